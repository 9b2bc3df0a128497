#include "loaders/rename.h"

#include <heed/error.h>

#include <regex>
#include <set>

#include <fmt/format.h>

namespace heed {
namespace {

// A copy of the 2-D f32 tensor `t`, transposed.
Tensor transposed(const Tensor& t, const std::string& what) {
  if (t.shape().rank() != 2 || t.dtype() != DType::f32)
    throw Error(fmt::format("{}: only a 2-D f32 tensor can be transposed, this one is {}{}", what, dtype_name(t.dtype()),
                            t.shape().str()));
  const int64_t rows = t.shape()[0], cols = t.shape()[1];
  Tensor out = Tensor::empty(DType::f32, {cols, rows});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out.data_as<float>()[j * rows + i] = t.data_as<float>()[i * cols + j];
  return out;
}

}  // namespace

void rename_tensors(SafetensorsFile& file, const RenameRules& rules, const std::string& origin) {
  std::vector<std::regex> patterns;
  for (const RenameRule& rule : rules) {
    try {
      patterns.emplace_back(rule.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error(fmt::format("{}: rename pattern \"{}\" is not a valid regular expression ({})", origin, rule.pattern, e.what()));
    }
  }
  std::set<std::string> seen;
  for (auto& [name, tensor] : file.tensors) {
    std::string renamed = name;
    bool transpose = false;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (rules[i].transpose && std::regex_search(renamed, patterns[i])) transpose = !transpose;
      renamed = std::regex_replace(renamed, patterns[i], rules[i].replacement);
    }
    if (!seen.insert(renamed).second)
      throw Error(fmt::format("{}: the rename map gives two tensors of {} the name '{}'", origin, file.path, renamed));
    if (transpose) tensor = transposed(tensor, fmt::format("{}: tensor '{}' of {}", origin, name, file.path));
    name = renamed;
  }
}

}  // namespace heed
