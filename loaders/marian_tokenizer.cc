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

MarianTokenizer::MarianTokenizer(const std::string& dir)
    : source_(load_spm(dir + "/source.spm")), target_(load_spm(dir + "/target.spm")) {
  std::string vocab = dir + "/vocab.json";
  if (!std::filesystem::exists(vocab)) throw Error(fmt::format("{}: missing (the token vocabulary)", vocab));
  nlohmann::json j = read_json_file(vocab);
  if (!j.is_object()) throw Error(fmt::format("{}: expected an object of piece -> id", vocab));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw Error(fmt::format("{}: piece '{}' has no valid id", vocab, it.key()));
    int64_t id = it.value().get<int64_t>();
    if (id >= limits().max_vocabulary_size)
      throw Error(fmt::format("{}: piece '{}' has id {}, beyond the vocabulary limit of {} (heed::Limits::max_vocabulary_size)",
                              vocab, it.key(), id, limits().max_vocabulary_size));
    piece_to_id_[it.key()] = id;
    if (id >= int64_t(id_to_piece_.size())) id_to_piece_.resize(size_t(id + 1));
    id_to_piece_[size_t(id)] = it.key();
  }
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

std::vector<std::string> MarianTokenizer::pieces(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t id : ids)
    out.push_back(id >= 0 && id < int64_t(id_to_piece_.size()) ? id_to_piece_[size_t(id)] : "<unk>");
  return out;
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
