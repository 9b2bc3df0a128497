// A progress bar on stderr for long batched work (only on a terminal).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "tools/commands.h"

namespace heed::tools {

void print_progress(size_t done, size_t total) {
  if (!isatty(2) || total < 2) return;
  int width = 40, filled = int(double(done) / double(total) * width);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(size_t(filled), '#').c_str(),
               std::string(size_t(width - filled), '.').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
}

void print_profile(const Profile& profile, const std::string& trace) {
  std::fprintf(stderr, "\n%s", profile.table().c_str());
  if (!trace.empty()) profile.write_chrome_trace(trace);
}

}  // namespace heed::tools
