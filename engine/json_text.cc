#include "engine/json_text.h"

#include <heed/error.h>

#include <set>
#include <vector>

#include <fmt/format.h>

#include "engine/file_io.h"

namespace heed {
namespace {

using json = nlohmann::json;

// Where the nesting first exceeds the cap (strings skipped), or npos.
size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

// The library's DOM builder, also remembering each open object's keys.
class StrictDomParser : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<json>;
  explicit StrictDomParser(json& root) : Base(root, true) {}
  bool start_object(std::size_t n) {
    keys_.emplace_back();
    return Base::start_object(n);
  }
  bool end_object() {
    keys_.pop_back();
    return Base::end_object();
  }
  bool key(std::string& k) {
    if (!keys_.back().insert(k).second && duplicate.empty()) duplicate = k;
    return Base::key(k);
  }
  std::string duplicate;

 private:
  std::vector<std::set<std::string>> keys_;
};

// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..." -> "syntax error ...".
std::string library_reason(const std::exception& e) {
  std::string what = e.what();
  size_t colon = what.find(": ");
  if (colon != std::string::npos) return what.substr(colon + 2);
  size_t bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

}  // namespace

json parse_json_text(std::string_view text, const std::string& source, DuplicateKeys duplicates) {
  if (size_t at = too_deep_at(text); at != std::string_view::npos)
    throw Error(fmt::format("{}: invalid JSON at byte {}: nested deeper than {} levels", source, at + 1, kMaxJsonDepth));
  json doc;
  StrictDomParser sax(doc);
  try {
    json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: invalid JSON at byte {}: {}", source, e.byte, library_reason(e)));
  } catch (const json::exception& e) {  // out_of_range.406: a number too large for a double
    throw Error(fmt::format("{}: invalid JSON: {}", source, library_reason(e)));
  }
  if (!sax.duplicate.empty() && duplicates == DuplicateKeys::refuse) throw Error(fmt::format("{}: invalid JSON: key '{}' appears twice in one object", source, sax.duplicate));
  return doc;
}

json read_json_file(const std::string& path, const std::string& needed_for, DuplicateKeys duplicates) {
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const Error& e) {
    if (needed_for.empty()) throw;
    throw Error(fmt::format("{} ({})", e.what(), needed_for));
  }
  return parse_json_text(text, path, duplicates);
}

}  // namespace heed
