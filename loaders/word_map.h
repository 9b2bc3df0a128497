#pragma once
// JSON vocabularies: {"word": id, ...} objects (the captioning tutorial's
// WORDMAP file, pytorch-vqa's vocab.json parts), with errors naming the file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/json_text.h"  // read_json_file, which every vocabulary reader uses

namespace heed {

struct WordMap {
  std::map<std::string, int64_t> ids;
  std::vector<std::string> words;  // by id ("" where no word has the id)

  // The id of `word`, or an error naming `where` when it is missing.
  int64_t at(const std::string& word, const std::string& where) const;
};

// `object` is the JSON object; `where` names the file (and key) in errors.
WordMap word_map_from(const nlohmann::json& object, const std::string& where);

}  // namespace heed
