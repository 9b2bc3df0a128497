#pragma once
// Shared by the libFuzzer targets: heed reads files by path, so each input is
// written to a file of this process's own first. A target passes when heed
// either succeeds or throws heed::Error; anything else (a crash, a sanitizer
// report, another exception type, a hang caught by -timeout) is a finding.
#include <heed/error.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace heed::fuzz {

// A directory of this process's own under the system temp dir, removed when the
// process exits normally (a crash leaves it, with the input that caused it).
inline const std::string& work_dir() {
  struct Dir {
    std::string path;
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir{[] {
    auto d = std::filesystem::temp_directory_path() / ("heed-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }()};
  return dir.path;
}

inline std::string write(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = work_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

// Copies a fixture directory (HEED_FIXTURES/<name>) to the work dir once.
inline std::string fixture_copy(const std::string& name) {
  std::string to = work_dir() + "/" + name;
  if (!std::filesystem::exists(to))
    std::filesystem::copy(std::string(HEED_FIXTURES) + "/" + name, to, std::filesystem::copy_options::recursive);
  return to;
}

// Runs f; heed::Error is an accepted outcome.
template <typename F>
void expect_no_crash(F f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace heed::fuzz
