#pragma once
#include <heed/model.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/compiled_graph.h"
#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed::detail {

// The load options of the text/image front ends (Translator, Captioner,
// QuestionAnswerer): the defaults, on `device`, in `precision`.
inline LoadOptions load_on(Device device, std::optional<Precision> precision = std::nullopt) {
  LoadOptions o;
  o.device = device;
  o.precision = precision;
  return o;
}

// A model directory holding this file (`heed quantize`, `heed convert` of a
// directory) loads from it, not through the directory's importer.
inline constexpr const char* kHeedFileInDirectory = "heed.safetensors";
// `path`/heed.safetensors when `path` is a directory that has it, else "".
std::string heed_file_in(const std::string& path);

// What Model::load reads before compiling: the graphs of `path` (an importer's
// for a checkpoint directory or ONNX file), their weights into `weights` (and
// those of `extra_weights`, LoadOptions::weights), the file's metadata.
ir::GraphFile read_model(const std::string& path, const std::string& extra_weights, WeightStore& weights,
                         std::map<std::string, std::string>& metadata);

// Changes an importer's graphs before they compile (calibration adds outputs).
using GraphEdit = std::function<void(ir::GraphFile&, WeightStore&)>;

class ModelImpl {
 public:
  ModelImpl(const std::string& path, const LoadOptions& options, const GraphEdit& edit = {});
  const CompiledGraph& graph(const std::string& name) const;  // "" = the only one, or "main"
  const std::map<std::string, std::unique_ptr<CompiledGraph>>& graphs() const { return graphs_; }
  const WeightStore& weights() const { return weights_; }
  const std::string& path() const { return path_; }
  std::string with_path(const std::string& message) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  Precision precision() const { return precision_; }  // as loaded (LoadOptions::precision)
  int tied_tables() const { return tied_tables_; }     // engine/projection_weights.h

 private:
  void build(ir::GraphFile file, const LoadOptions& options);
  DType checked_gemm_dtype(const LoadOptions& options, Device device) const;

  std::string path_;
  std::map<std::string, std::string> metadata_;
  WeightStore weights_;
  std::map<std::string, std::unique_ptr<CompiledGraph>> graphs_;
  Precision precision_ = Precision::f32;
  int tied_tables_ = 0;
};

// A Model around an impl built here (Model::load's is the public way).
struct ModelAccess {
  static Model wrap(std::shared_ptr<const ModelImpl> impl) {
    Model m;
    m.impl_ = std::move(impl);
    return m;
  }
};

}  // namespace heed::detail
