// What the tools report besides their results: a progress bar for long batched
// work (only on a terminal), per-op profiles, attention pages.
#include <heed/error.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "tools/commands.h"

#include "engine/file_io.h"
#include "engine/safetensors.h"

namespace heed::tools {

void print_progress(size_t done, size_t total) {
  if (!isatty(2) || total < 2) return;
  int width = 40, filled = int(double(done) / double(total) * width);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(size_t(filled), '#').c_str(),
               std::string(size_t(width - filled), '.').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
}

void write_html_page(const std::string& path, const std::string& title, const std::vector<viz::HtmlSection>& sections,
                     const std::string& what) {
  write_file_atomically(path, viz::render_html(title, sections));
  std::fprintf(stderr, "%s written to %s\n", what.c_str(), path.c_str());
}

Tensor read_features(const std::string& path, const char* layout, std::initializer_list<int> ranks) {
  SafetensorsFile file = read_safetensors(path);
  const Tensor* f = file.find("features");
  if (!f && file.tensors.size() == 1) f = &file.tensors[0].second;
  if (!f) throw Error(fmt::format("{}: no tensor named 'features'", path));
  if (f->dtype() != DType::f32 || std::find(ranks.begin(), ranks.end(), f->shape().rank()) == ranks.end())
    throw Error(fmt::format("{}: features must be f32 {}, got {} {}", path, layout, dtype_name(f->dtype()), f->shape().str()));
  return *f;  // shares the mapping, which the tensor keeps alive
}

void print_profile(const Profile& profile, const std::string& trace) {
  std::fprintf(stderr, "\n%s", profile.table().c_str());
  if (!trace.empty()) profile.write_chrome_trace(trace);
}

}  // namespace heed::tools
