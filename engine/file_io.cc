#include "engine/file_io.h"

#include <heed/error.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace heed {
namespace fs = std::filesystem;

int open_regular_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{}: not a regular file", path));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_text_file(const std::string& path, size_t max_bytes) {
  int fd = open_regular_file(path);
  struct stat st {};
  fstat(fd, &st);
  if (size_t(st.st_size) > max_bytes) {
    ::close(fd);
    throw Error(fmt::format("{}: {} bytes, more than the {}-byte limit for a text file", path, st.st_size, max_bytes));
  }
  std::string text(size_t(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  ::close(fd);
  text.resize(got);
  return text;
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  fs::path target(path);
  std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".heed-XXXXXX")).string();
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw Error(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  ::close(fd);
  auto fail = [&](const std::string& why) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: {}", path, why));
  };
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("cannot write");
    try {
      write(f);
    } catch (...) {
      f.close();
      std::remove(tmp.c_str());
      throw;
    }
    f.flush();
    if (!f) fail("write failed (disk full?)");
  }
  // mkstemp makes the file 0600; give it the permissions a plain create would.
  mode_t mask = umask(0);
  umask(mask);
  chmod(tmp.c_str(), 0666 & ~mask);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(fmt::format("cannot replace: {}", std::strerror(errno)));
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  write_file_atomically(path, [&](std::ostream& f) { f.write(bytes.data(), std::streamsize(bytes.size())); });
}

std::string resolve_model_path(const std::string& model_dir, const std::string& named, const std::string& where) {
  fs::path p(named);
  bool escapes = p.is_absolute() || named.empty();
  for (const fs::path& part : p) escapes |= part == "..";
  if (escapes)
    throw Error(fmt::format("{}: '{}' must be a relative path inside the model's directory (give other files on "
                            "the command line)", where, named));
  return (fs::path(model_dir) / p).string();
}

}  // namespace heed
