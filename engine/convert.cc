#include "engine/convert.h"

#include <heed/error.h>
#include <heed/model.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "engine/importer.h"
#include "engine/model_impl.h"
#include "engine/safetensors.h"

namespace heed {

ConvertSummary convert_model(const std::string& model, const std::string& out) {
  const detail::Importer* importer = detail::heed_file_in(model).empty() ? detail::find_importer(model) : nullptr;
  if (!importer)
    throw Error(fmt::format("{}: already in heed's form (a graph JSON or .safetensors); convert reads an ONNX file "
                            "or a checkpoint directory", model));
  Model::load(model);  // the graphs validate and compile before anything is written
  WeightStore weights;
  ir::GraphFile graphs = importer->import(model, weights);
  std::map<std::string, std::string> metadata = graphs.metadata;
  graphs.weights.clear();
  metadata["heed.graph"] = ir::write_graph_json(graphs);
  metadata["heed.converted_from"] = std::filesystem::path(model).filename().string();  // no machine paths
  // The weights the graphs name (an importer may hold others: originals of what it rewrote).
  std::set<std::string> named;
  for (const auto& [name, g] : graphs.graphs)
    for (const ir::Parameter& p : g.parameters) named.insert(p.weight);
  NamedTensors tensors;
  for (const auto& [name, t] : weights.all())
    if (named.count(name)) tensors.emplace_back(name, t);
  write_safetensors(out, tensors, metadata);
  ConvertSummary s{importer->name, graphs.graphs.size(), tensors.size(), 0};
  for (const auto& [name, t] : tensors) s.bytes += t.nbytes();
  return s;
}

}  // namespace heed
