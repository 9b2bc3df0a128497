#include "loaders/vqa_question.h"

#include <cctype>

namespace heed {

std::vector<std::string> vqa_question_tokens(const std::string& question) {
  std::string q = question;
  while (!q.empty() && std::isspace(static_cast<unsigned char>(q.back()))) q.pop_back();
  if (!q.empty() && q.back() == '?') q.pop_back();
  std::vector<std::string> tokens;
  std::string word;
  for (char ch : q) {
    const char c = char(std::tolower(static_cast<unsigned char>(ch)));
    if (c == ' ' && !word.empty()) tokens.push_back(std::move(word)), word.clear();
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) word += c;
  }
  if (!word.empty()) tokens.push_back(std::move(word));
  return tokens;
}

}  // namespace heed
