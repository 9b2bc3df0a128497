// `heed inspect FILE`: the tensors and metadata of a safetensors file, and the
// graphs of a model with their inferred shapes.
#include <heed/model.h>

#include <cstdio>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/safetensors.h"
#include "tools/commands.h"

namespace heed::tools {
namespace {

void print_safetensors(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  size_t total = 0;
  fmt::print("{}: {} tensors\n", path, f.tensors.size());
  for (const auto& [name, t] : f.tensors) {
    fmt::print("  {:<40} {:<5} {:<20} {:>12} bytes\n", name, safetensors_dtype(t.dtype()), t.shape().str(), t.nbytes());
    total += t.nbytes();
  }
  fmt::print("  total {} bytes\n", total);
  for (const auto& [key, value] : f.metadata) {
    std::string shown = value.size() > 200 ? value.substr(0, 200) + fmt::format("... ({} bytes)", value.size()) : value;
    fmt::print("  metadata {} = {}\n", key, shown);
  }
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a safetensors file's tensors, or a model's graphs with inferred shapes");
  auto path = std::make_shared<std::string>();
  auto weights = std::make_shared<std::string>();
  auto cpu = std::make_shared<bool>(false);
  cmd->add_option("FILE", *path, "a .safetensors file, or a model (graph JSON, .onnx, checkpoint directory)");
  cmd->add_option("--weights", *weights, "weights for a graph JSON (default: its \"weights\" entry)");
  cmd->add_flag("--cpu", *cpu, "print this CPU, the instruction sets heed and oneDNN run, and which precisions it can run");
  auto precision = std::make_shared<std::optional<Precision>>();
  add_precision_option(cmd, precision.get());
  cmd->callback([path, weights, precision, cpu] {
    if (*cpu) fmt::print("{}", cpu_backend().report());
    if (path->empty()) {
      if (!*cpu) throw Error("inspect: give a FILE (a .safetensors file or a model), or --cpu");
      return;
    }
    bool is_safetensors = path->ends_with(".safetensors");
    if (is_safetensors) print_safetensors(*path);
    bool has_graph = !is_safetensors;
    if (is_safetensors) has_graph = read_safetensors(*path).metadata.count("heed.graph") > 0;
    LoadOptions options{*weights};
    options.precision = *precision;
    if (has_graph) fmt::print("{}", Model::load(*path, options).describe());
  });
}

}  // namespace heed::tools
