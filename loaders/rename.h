#pragma once
// A checkpoint's weight names rewritten to the names an importer expects: an
// ordered list of (ECMAScript regex pattern -> replacement) rules, each applied
// to every name in turn (std::regex_replace: "$1" refers to a group).
#include <string>
#include <utility>
#include <vector>

#include "loaders/safetensors.h"

namespace heed {

using RenameRules = std::vector<std::pair<std::string, std::string>>;

// Renames the tensors of `file` in place. `origin` names where the rules came
// from, for errors: an invalid pattern, or two tensors renamed to one name.
void rename_tensors(SafetensorsFile& file, const RenameRules& rules, const std::string& origin);

}  // namespace heed
