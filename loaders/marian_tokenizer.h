#pragma once
// The Marian tokenizer as transformers' MarianTokenizer does it: SentencePiece
// pieces from source.spm, ids from vocab.json (unknown pieces -> <unk>), then
// </s>; decoding maps ids back to pieces (special tokens dropped) and joins them
// with target.spm.
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
  std::vector<std::string> pieces(const std::vector<int64_t>& ids) const;  // special tokens included
  std::string decode(const std::vector<int64_t>& ids) const;        // special tokens dropped
  int64_t vocab_size() const { return int64_t(id_to_piece_.size()); }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> source_, target_;
  std::map<std::string, int64_t> piece_to_id_;
  std::vector<std::string> id_to_piece_;
  int64_t unk_ = -1, eos_ = -1, pad_ = -1;
};

}  // namespace heed
