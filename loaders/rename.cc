#include "loaders/rename.h"

#include <heed/error.h>

#include <regex>
#include <set>

#include <fmt/format.h>

namespace heed {

void rename_tensors(SafetensorsFile& file, const RenameRules& rules, const std::string& origin) {
  std::vector<std::regex> patterns;
  for (const auto& [pattern, replacement] : rules) {
    try {
      patterns.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error(fmt::format("{}: rename pattern \"{}\" is not a valid regular expression ({})", origin, pattern, e.what()));
    }
  }
  std::set<std::string> seen;
  for (auto& [name, tensor] : file.tensors) {
    std::string renamed = name;
    for (size_t i = 0; i < rules.size(); ++i) renamed = std::regex_replace(renamed, patterns[i], rules[i].second);
    if (!seen.insert(renamed).second)
      throw Error(fmt::format("{}: the rename map gives two tensors of {} the name '{}'", origin, file.path, renamed));
    name = renamed;
  }
}

}  // namespace heed
