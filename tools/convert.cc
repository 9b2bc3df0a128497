// `heed convert MODEL -o OUT.safetensors`: an imported model saved in heed's
// single-file form (engine/convert.h), which loads without re-importing.
#include <heed/error.h>

#include <fmt/format.h>

#include "engine/convert.h"
#include "tools/commands.h"

namespace heed::tools {
namespace {

void convert(const std::string& model, const std::string& out) {
  ConvertSummary s = convert_model(model, out);
  fmt::print(stderr, "{} ({}): {} graph(s), {} tensors ({:.1f} MB) written to {}\n", model, s.importer, s.graphs,
             s.tensors, s.bytes / 1e6, out);
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
