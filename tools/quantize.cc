// `heed quantize MODEL -o OUT --precision int8|bf16`: the model saved with its
// projection weights stored in that precision (engine/quantize.h).
#include <heed/error.h>

#include <fmt/format.h>

#include "engine/quantize.h"
#include "tools/commands.h"

namespace heed::tools {

void add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Save a model with its projection weights stored in int8 (per output channel, with scales) or bf16: a file a "
      "quarter (half) the size, which runs in that precision by default");
  auto model = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto precision = std::make_shared<std::optional<Precision>>();
  auto weights = std::make_shared<std::string>();
  cmd->add_option("MODEL", *model, "a model as `heed run` takes it (graph JSON, .safetensors, .onnx, a checkpoint "
                                   "directory) with fp32 weights")->required();
  cmd->add_option("-o,--output", *out,
                  "a .safetensors file; for a checkpoint directory, a directory (gets heed.safetensors and the "
                  "model's other files: tokenizers, vocabularies, configs)")->required();
  cmd->add_option("--weights", *weights, "for a graph JSON: its safetensors weights (default: the JSON's \"weights\")");
  add_precision_option(cmd, precision.get());
  auto calibration = std::make_shared<Calibration>();
  cmd->add_option("--calibrate", calibration->inputs,
                  "int8: safetensors files of sample inputs (one tensor per graph input each, as `heed run --inputs` "
                  "takes): the graph's activation ranges over them are stored, and its convolutions then run at "
                  "those fixed scales, passing u8/i8 values between them (static quantization; docs/precision.md)");
  cmd->add_option("--graph", calibration->graph, "with --calibrate: which graph (default: the only one, or 'main')");
  cmd->callback([model, out, precision, weights, calibration] {
    if (!*precision || **precision == Precision::f32) throw Error("quantize: give --precision int8 or bf16");
    if (calibration->inputs.empty() && !calibration->graph.empty()) throw Error("quantize: --graph goes with --calibrate");
    QuantizeSummary s = quantize_model(*model, *out, **precision, *weights,
                                       calibration->inputs.empty() ? nullptr : calibration.get());
    if (s.calibrated)
      fmt::print(stderr, "graph '{}': {} activation ranges calibrated over {} file(s)\n", s.calibrated_graph,
                 s.calibrated, calibration->inputs.size());
    fmt::print(stderr,
               "{}: {} graph(s); {} weights stored in {} ({:.1f} MB), {} kept in fp32 ({:.1f} MB): {:.1f} MB of fp32 "
               "weights now {:.1f} MB, written to {}\n",
               *model, s.graphs, s.stored, precision_name(**precision), s.stored_bytes / 1e6, s.kept,
               s.kept_bytes / 1e6, s.fp32_bytes / 1e6, (s.stored_bytes + s.kept_bytes) / 1e6, *out);
  });
}

}  // namespace heed::tools
