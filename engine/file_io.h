#pragma once
// Files heed reads and writes on a user's behalf. Reads open regular files only
// (a FIFO or a device named by a model would block or never end) and refuse
// texts past a size cap; writes go to a temporary file renamed over the target,
// so a failed write never destroys the previous file.
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace heed {

// The largest text file (graph JSON, config, vocabulary, list of lines) read whole.
inline constexpr size_t kMaxTextFileBytes = size_t(1) << 30;

// A read-only descriptor of a regular file; throws heed::Error naming `path`.
int open_regular_file(const std::string& path);
std::string read_text_file(const std::string& path, size_t max_bytes = kMaxTextFileBytes);

// Writes `path` through `write` into a temporary file beside it, then renames it
// into place; throws heed::Error naming `path` on any failure (the target untouched).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);
void write_file_atomically(const std::string& path, std::string_view bytes);

// A path named inside a model file (a graph's "weights"): relative, without
// "..", resolved against the model's directory. Paths the user gives on the
// command line are taken as they are; this is for the ones a file names.
std::string resolve_model_path(const std::string& model_dir, const std::string& named, const std::string& where);

}  // namespace heed
