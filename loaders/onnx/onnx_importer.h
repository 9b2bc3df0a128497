#pragma once
// The ONNX importer: a .onnx file (opsets 11 to 17) as one heed graph, "main",
// whose weights are the model's initializers (docs/onnx.md).
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

ir::GraphFile import_onnx(const std::string& path, WeightStore& weights);

}  // namespace heed
