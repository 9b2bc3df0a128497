#include "loaders/word_map.h"

#include <heed/limits.h>

#include <heed/error.h>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace heed {

int64_t WordMap::at(const std::string& word, const std::string& where) const {
  auto it = ids.find(word);
  if (it == ids.end()) throw Error(fmt::format("{}: has no \"{}\"", where, word));
  return it->second;
}

WordMap word_map_from(const nlohmann::json& object, const std::string& where) {
  if (!object.is_object()) throw Error(fmt::format("{}: expected an object of word -> id", where));
  WordMap m;
  for (const auto& [word, id] : object.items()) {
    const int64_t limit = limits().max_vocabulary_size;
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= limit)
      throw Error(fmt::format("{}: the id of \"{}\" must be an integer in [0, {}) (heed::Limits::max_vocabulary_size)", where, word, limit));
    m.ids[word] = id.get<int64_t>();
    if (size_t(id.get<int64_t>()) >= m.words.size()) m.words.resize(size_t(id.get<int64_t>()) + 1);
    m.words[size_t(id.get<int64_t>())] = word;
  }
  return m;
}

}  // namespace heed
