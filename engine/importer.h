#pragma once
// The seam between the engine and the importers of other people's checkpoints.
// An importer says how it recognises its input (a directory whose config.json
// names a model_type, or a file suffix) and turns it into heed graphs plus
// weights. The engine knows importers only through this registry; the
// importers themselves live in loaders/ and register in
// register_builtin_importers() (loaders/builtin_importers.cc), the way op
// definitions register in ops/all_ops.cc.
#include <functional>
#include <string>
#include <vector>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed::detail {

struct Importer {
  std::string name;        // what it reads, for errors: "a Hugging Face Marian checkpoint"
  std::string model_type;  // a directory whose config.json has this "model_type"; or
  std::string suffix;      // a file whose name ends with this (".onnx")
  std::function<ir::GraphFile(const std::string& path, WeightStore& weights)> import;
};

void register_importer(Importer importer);
const std::vector<Importer>& importers();  // in registration order

// The importer for `path` (a directory or a file); null for heed's own forms
// (a graph JSON, a .safetensors file). A directory no importer recognises is
// an error naming its config.json and the model types that are known.
const Importer* find_importer(const std::string& path);

// Defined by the loaders layer; called once, before the registry is first read.
void register_builtin_importers();

}  // namespace heed::detail
