#include "loaders/marian_tokenizer.h"

#include <heed/error.h>
#include <heed/limits.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "engine/json_text.h"

namespace heed {

static std::unique_ptr<sentencepiece::SentencePieceProcessor> load_spm(const std::string& path) {
  auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (!std::filesystem::exists(path)) throw Error(fmt::format("{}: missing (the SentencePiece model)", path));
  auto status = p->Load(path);
  if (!status.ok()) throw Error(fmt::format("{}: cannot load SentencePiece model: {}", path, status.ToString()));
  return p;
}

// A vocab.json: piece -> id, and the pieces by id.
static void read_vocabulary(const std::string& path, std::map<std::string, int64_t>& piece_to_id,
                            std::vector<std::string>& id_to_piece) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw Error(fmt::format("{}: expected an object of piece -> id", path));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw Error(fmt::format("{}: piece '{}' has no valid id", path, it.key()));
    int64_t id = it.value().get<int64_t>();
    if (id >= limits().max_vocabulary_size)
      throw Error(fmt::format("{}: piece '{}' has id {}, beyond the vocabulary limit of {} (heed::Limits::max_vocabulary_size)",
                              path, it.key(), id, limits().max_vocabulary_size));
    piece_to_id[it.key()] = id;
    if (id >= int64_t(id_to_piece.size())) id_to_piece.resize(size_t(id + 1));
    id_to_piece[size_t(id)] = it.key();
  }
}

MarianTokenizer::MarianTokenizer(const std::string& dir)
    : source_(load_spm(dir + "/source.spm")), target_(load_spm(dir + "/target.spm")) {
  std::string vocab = dir + "/vocab.json";
  if (!std::filesystem::exists(vocab)) throw Error(fmt::format("{}: missing (the token vocabulary)", vocab));
  read_vocabulary(vocab, piece_to_id_, source_id_to_piece_);
  id_to_piece_ = source_id_to_piece_;
  if (std::string target = dir + "/target_vocab.json"; std::filesystem::exists(target)) {
    std::map<std::string, int64_t> unused;
    id_to_piece_.clear();
    read_vocabulary(target, unused, id_to_piece_);
  }
  // The special ids are the source vocabulary's, as transformers' tokenizer
  // takes them (its current encoder), on both sides.
  auto special = [&](const char* piece) {
    auto it = piece_to_id_.find(piece);
    if (it == piece_to_id_.end()) throw Error(fmt::format("{}: no '{}' token", vocab, piece));
    return it->second;
  };
  unk_ = special("<unk>");
  eos_ = special("</s>");
  pad_ = special("<pad>");
}

MarianTokenizer::~MarianTokenizer() = default;

std::vector<int64_t> MarianTokenizer::encode(const std::string& text) const {
  std::vector<std::string> pieces;
  source_->Encode(text, &pieces);
  std::vector<int64_t> ids;
  for (const std::string& p : pieces) {
    auto it = piece_to_id_.find(p);
    ids.push_back(it == piece_to_id_.end() ? unk_ : it->second);
  }
  ids.push_back(eos_);
  return ids;
}

static std::vector<std::string> pieces_of(const std::vector<int64_t>& ids, const std::vector<std::string>& table) {
  std::vector<std::string> out;
  for (int64_t id : ids) out.push_back(id >= 0 && id < int64_t(table.size()) ? table[size_t(id)] : "<unk>");
  return out;
}

std::vector<std::string> MarianTokenizer::pieces(const std::vector<int64_t>& ids) const { return pieces_of(ids, id_to_piece_); }
std::vector<std::string> MarianTokenizer::source_pieces(const std::vector<int64_t>& ids) const {
  return pieces_of(ids, source_id_to_piece_);
}

std::string MarianTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> kept;
  for (int64_t id : ids)
    if (id != eos_ && id != pad_ && id != unk_ && id >= 0 && id < int64_t(id_to_piece_.size()))
      kept.push_back(id_to_piece_[size_t(id)]);
  std::string text;
  target_->Decode(kept, &text);
  // As MarianTokenizer.convert_tokens_to_string: stray "▁" become spaces, then strip.
  std::string spaced;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xe2\x96\x81") == 0) {
      spaced += ' ';
      i += 2;
    } else {
      spaced += text[i];
    }
  }
  size_t b = spaced.find_first_not_of(" \t\n"), e = spaced.find_last_not_of(" \t\n");
  return b == std::string::npos ? std::string() : spaced.substr(b, e - b + 1);
}

}  // namespace heed
