#pragma once
// Shared by the benchmark programs: timing by medians, random tensors, models
// written from JSON on the fly.
#include <heed/model.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"

namespace heed::bench {

struct Options {
  int threads = 0, repeats = 7, iters = 50;
  std::string only;  // --only a,b: the benchmarks to run (default all)
  bool runs(const std::string& name) const;
};

// Parses --threads/--repeats/--iters/--only; exits with usage on anything else.
Options parse_options(int argc, char** argv);

inline double time_us(int iters, const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / iters;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Medians over `repeats` of the mean time of `iters` calls of each function,
// measured alternately so that drift on a shared machine hits all of them.
inline std::vector<double> median_us(const Options& o, int warmup, const std::vector<std::function<void()>>& fs) {
  for (int i = 0; i < warmup; ++i)
    for (auto& f : fs) f();
  std::vector<std::vector<double>> t(fs.size());
  for (int r = 0; r < o.repeats; ++r)
    for (size_t i = 0; i < fs.size(); ++i) t[i].push_back(time_us(o.iters, fs[i]));
  std::vector<double> out;
  for (auto& v : t) out.push_back(median(v));
  return out;
}

inline Tensor random_tensor(const Shape& s, unsigned seed, float stddev = 0.05f) {
  Tensor t = Tensor::empty(DType::f32, s);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = dist(gen);
  return t;
}

// Writes `graph` (one graph named main) and its weights under /tmp and loads it
// with `options` (their weights path is set here).
Model load_graph(const std::string& name, const nlohmann::json& graph, const NamedTensors& weights,
                 LoadOptions options = {});

inline void emit(const nlohmann::json& row) {
  std::printf("%s\n", row.dump().c_str());
  std::fflush(stdout);
}

}  // namespace heed::bench
