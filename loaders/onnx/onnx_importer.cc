#include "loaders/onnx/onnx_importer.h"

#include <fmt/format.h>

#include "loaders/onnx/onnx_file.h"
#include "loaders/onnx/onnx_graph.h"

namespace heed {

ir::GraphFile import_onnx(const std::string& path, WeightStore& weights) {
  onnx_import::ModelProto model = onnx_import::read_onnx_model(path);
  onnx_import::OnnxGraph graph(path, model, weights);
  weights.add_source(path);
  ir::GraphFile file;
  file.graphs["main"] = graph.import();
  file.metadata["architecture"] = "onnx";
  file.metadata["onnx.opset"] = std::to_string(onnx_import::onnx_opset(model));
  if (!model.producer_name.empty())
    file.metadata["onnx.producer"] = model.producer_name + " " + model.producer_version;
  return file;
}

}  // namespace heed
