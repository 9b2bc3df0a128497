#pragma once
// The Marian tokenizer as transformers' MarianTokenizer does it: SentencePiece
// pieces from source.spm, ids from vocab.json (unknown pieces -> <unk>), then
// </s>; decoding maps ids back to pieces (special tokens dropped) and joins them
// with target.spm. With separate vocabularies (target_vocab.json beside
// vocab.json, as save_pretrained writes for separate_vocabs=True) the target
// side's ids are target_vocab.json's.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace heed {

class MarianTokenizer {
 public:
  explicit MarianTokenizer(const std::string& dir);  // throws heed::Error naming the missing file
  ~MarianTokenizer();
  std::vector<int64_t> encode(const std::string& text) const;       // ends with </s>
  std::vector<std::string> pieces(const std::vector<int64_t>& ids) const;  // target ids; special tokens included
  std::vector<std::string> source_pieces(const std::vector<int64_t>& ids) const;
  std::string decode(const std::vector<int64_t>& ids) const;        // special tokens dropped
  int64_t vocab_size() const { return int64_t(id_to_piece_.size()); }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> source_, target_;
  std::map<std::string, int64_t> piece_to_id_;
  std::vector<std::string> id_to_piece_, source_id_to_piece_;
  int64_t unk_ = -1, eos_ = -1, pad_ = -1;
};

}  // namespace heed
