// `heed convert MODEL -o OUT.safetensors`: what an importer makes of a model
// (an ONNX file, a checkpoint directory) saved in heed's single-file form: the
// graphs as JSON in __metadata__["heed.graph"], the weights as tensors, the
// importer's metadata beside them. It loads without the importer, and without
// re-importing.
#include <heed/error.h>
#include <heed/model.h>

#include <filesystem>

#include <fmt/format.h>

#include "engine/importer.h"
#include "engine/safetensors.h"
#include "tools/commands.h"

namespace heed::tools {
namespace {

void convert(const std::string& model, const std::string& out) {
  const detail::Importer* importer = detail::find_importer(model);
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
  NamedTensors tensors(weights.all().begin(), weights.all().end());
  write_safetensors(out, tensors, metadata);
  size_t bytes = 0;
  for (const auto& [name, t] : tensors) bytes += t.nbytes();
  fmt::print(stderr, "{} ({}): {} graph(s), {} tensors ({:.1f} MB) written to {}\n", model, importer->name,
             graphs.graphs.size(), tensors.size(), bytes / 1e6, out);
}

}  // namespace

void add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "convert", "Import a model (ONNX file, checkpoint directory) once and save it as one heed .safetensors file");
  auto model = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("MODEL", *model, "an .onnx file or a checkpoint directory")->required();
  cmd->add_option("-o,--output", *out, "the .safetensors file to write")->required();
  cmd->callback([model, out] {
    if (!out->ends_with(".safetensors")) throw Error(fmt::format("{}: the output must end in .safetensors", *out));
    convert(*model, *out);
  });
}

}  // namespace heed::tools
