#pragma once
// A checkpoint's weight names rewritten to the names an importer expects: an
// ordered list of (ECMAScript regex pattern -> replacement) rules, each applied
// to every name in turn (std::regex_replace: "$1" refers to a group). A rule
// may also transpose the 2-D tensors it matches: the layout conventions of other
// implementations (docs/models.md lists them) map onto heed's that way.
#include <string>
#include <utility>
#include <vector>

#include "engine/safetensors.h"

namespace heed {

struct RenameRule {
  std::string pattern, replacement;
  bool transpose = false;  // the matched tensor is stored as W^T of what heed reads
};
using RenameRules = std::vector<RenameRule>;

// Renames the tensors of `file` in place. `origin` names where the rules came
// from, for errors: an invalid pattern, or two tensors renamed to one name.
void rename_tensors(SafetensorsFile& file, const RenameRules& rules, const std::string& origin);

}  // namespace heed
