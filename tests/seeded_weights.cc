#include "tests/seeded_weights.h"

#include <heed/error.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"

namespace heed::test {

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

Tensor seeded_uniform(const std::string& name, const Shape& shape, float low, float high) {
  Tensor t = Tensor::empty(DType::f32, shape);
  const uint64_t seed = fnv1a64(name);
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint64_t z = seed + uint64_t(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = float(z >> 40) * (1.0f / float(1 << 24));
    t.data_as<float>()[i] = low + u * (high - low);
  }
  return t;
}

std::string seeded_weights_file(const std::string& manifest_path, const std::string& dir) {
  std::ifstream f(manifest_path);
  nlohmann::json manifest = nlohmann::json::parse(f);
  NamedTensors tensors;
  for (const auto& e : manifest) {
    std::vector<int64_t> dims = e["shape"];
    tensors.emplace_back(e["name"], seeded_uniform(e["name"], Shape(std::span<const int64_t>(dims)), e["low"], e["high"]));
  }
  std::string path = dir + "/seeded.safetensors";
  write_safetensors(path, tensors);
  return path;
}

void seeded_raw_file(const std::string& manifest_path, const std::string& path) {
  std::ifstream f(manifest_path);
  nlohmann::json manifest = nlohmann::json::parse(f);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& e : manifest) {
    std::vector<int64_t> dims = e["shape"];
    Tensor t = seeded_uniform(e["name"], Shape(std::span<const int64_t>(dims)), e["low"], e["high"]);
    out.seekp(std::streamoff(e["offset"].get<int64_t>()));
    out.write(static_cast<const char*>(t.data()), std::streamsize(t.numel() * 4));
  }
  if (!out) throw Error("could not write " + path);
}

}  // namespace heed::test
