#pragma once
// Questions read as pytorch-vqa's prepare_questions does: lower case, the final
// '?' dropped (pytorch-vqa drops the last character, whatever it is), characters
// other than [a-z0-9 ] removed, split on spaces (runs of spaces give no empty words).
#include <string>
#include <vector>

namespace heed {

std::vector<std::string> vqa_question_tokens(const std::string& question);

}  // namespace heed
