#pragma once
// What an importer makes of a model (an ONNX file, a checkpoint directory),
// saved in heed's single-file form: the graphs as JSON in
// __metadata__["heed.graph"], the weights as tensors, the importer's metadata
// beside them. The file loads without the importer (`heed convert`).
#include <cstddef>
#include <string>

namespace heed {

struct ConvertSummary {
  std::string importer;  // "an ONNX model"
  size_t graphs = 0, tensors = 0, bytes = 0;
};

// Throws heed::Error when `model` is already in heed's form or does not load.
ConvertSummary convert_model(const std::string& model, const std::string& out);

}  // namespace heed
