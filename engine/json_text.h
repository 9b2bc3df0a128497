#pragma once
// JSON as heed reads it from files: nesting capped (the parser's recursion and
// the document's destructor would otherwise overflow the stack on a hostile
// file), duplicate keys refused (the library keeps the last one silently), and
// every library error turned into one line that names the file.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace heed {

inline constexpr int kMaxJsonDepth = 128;

// Throws heed::Error: "SOURCE: invalid JSON at byte N: ...". Duplicate keys
// are refused where heed defines the format (graphs, safetensors headers); in
// files Python writes and reads (configs, vocabularies) the last one wins, as
// with Python's json module.
enum class DuplicateKeys { refuse, last_wins };
nlohmann::json parse_json_text(std::string_view text, const std::string& source,
                               DuplicateKeys duplicates = DuplicateKeys::refuse);
// `needed_for` says what the file is for, in the error when it cannot be read.
nlohmann::json read_json_file(const std::string& path, const std::string& needed_for = "",
                              DuplicateKeys duplicates = DuplicateKeys::last_wins);

}  // namespace heed
