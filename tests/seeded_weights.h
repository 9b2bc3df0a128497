#pragma once
// The C++ twin of tests/reference/seeded.py: the same tensors, bit for bit.
#include <heed/tensor.h>

#include <string>

namespace heed::test {

uint64_t fnv1a64(const std::string& text);
Tensor seeded_uniform(const std::string& name, const Shape& shape, float low, float high);
// Writes every tensor of a manifest (JSON: [{"name", "shape", "low", "high"}]) to a
// safetensors file and returns its path.
std::string seeded_weights_file(const std::string& manifest_path, const std::string& dir);
// Writes every tensor of a manifest whose entries also give an "offset" as raw
// little-endian f32 at that offset of `path` (an ONNX model's external data).
void seeded_raw_file(const std::string& manifest_path, const std::string& path);

}  // namespace heed::test
