#include "bench/bench_util.h"

#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <fstream>

namespace heed::bench {

Options parse_options(int argc, char** argv) {
  Options o;
  auto usage = [&](FILE* to, int status) {
    std::fprintf(to, "usage: %s [--threads N] [--repeats R] [--iters I] [--only NAME,...]\n", argv[0]);
    std::exit(status);
  };
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") usage(stdout, 0);
    if (i + 1 >= argc) usage(stderr, 2);  // a trailing option without its value
    int v = std::atoi(argv[i + 1]);
    if (a == "--threads") o.threads = v;
    else if (a == "--repeats") o.repeats = v;
    else if (a == "--iters") o.iters = v;
    else if (a == "--only") o.only = argv[i + 1];
    else usage(stderr, 2);
  }
  if (o.threads <= 0) o.threads = omp_get_num_procs();
  omp_set_num_threads(o.threads);
  return o;
}

bool Options::runs(const std::string& name) const {
  if (only.empty()) return true;
  std::stringstream names(only);
  for (std::string n; std::getline(names, n, ',');)
    if (n == name) return true;
  return false;
}

Model load_graph(const std::string& name, const nlohmann::json& graph, const NamedTensors& weights, LoadOptions lo) {
  std::string dir = "/tmp/heed_bench";
  std::filesystem::create_directories(dir);
  std::vector<std::string> params;
  for (const auto& w : weights) params.push_back(w.first);
  nlohmann::json g = graph;
  g["parameters"] = params;
  nlohmann::json doc = {{"format", "heed.graph"}, {"version", 1}, {"graphs", {{"main", g}}}};
  std::string path = dir + "/" + name + ".json";
  std::ofstream(path) << doc.dump();
  if (!weights.empty()) {
    lo.weights = dir + "/" + name + ".safetensors";
    write_safetensors(lo.weights, weights);
  }
  return Model::load(path, lo);
}

}  // namespace heed::bench
