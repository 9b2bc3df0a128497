#pragma once
// safetensors: a strictly validated, memory-mapped reader (tensors are views
// into the mapping where alignment allows) and a writer.
#include <heed/tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace heed {

class MappedFile;

struct SafetensorsFile {
  std::string path;
  std::shared_ptr<const MappedFile> mapping;                // what the tensors view
  std::map<std::string, std::string> metadata;            // "__metadata__"
  std::vector<std::pair<std::string, Tensor>> tensors;    // in file order
  const Tensor* find(const std::string& name) const;
};

// Throws heed::Error naming the file (and the tensor) on any malformation.
SafetensorsFile read_safetensors(const std::string& path);
// A checkpoint directory's model.safetensors; `what` names it when it is missing.
SafetensorsFile read_model_weights(const std::string& dir, const std::string& what);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The safetensors dtype names ("F32", "BF16", ...).
std::string safetensors_dtype(DType dtype);

}  // namespace heed
