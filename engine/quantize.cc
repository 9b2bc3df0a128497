#include "engine/quantize.h"

#include <heed/error.h>

#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "engine/model_impl.h"
#include "engine/op_def.h"
#include "engine/optimize.h"
#include "engine/projection_weights.h"
#include "engine/safetensors.h"
#include "engine/stored_weight.h"
#include "engine/validate.h"

namespace heed {
namespace {

namespace fs = std::filesystem;

// Graph constants larger than this (the optimizer's folded convolution weights)
// move into the weights: JSON is no place for them.
constexpr int64_t kLargestInlineConstant = 64;

// Validated and optimized as Model::load would, the optimizer's large constants
// made weights.
void prepare_graph(ir::Graph& g, WeightStore& weights, const std::string& model) {
  auto lookup = [&](const std::string& name) { return weights.find(name); };
  try {
    ir::validate_graph(g, lookup, weights.describe_sources());
    if (ir::optimize_graph(g, lookup).changed()) ir::validate_graph(g, lookup, weights.describe_sources());
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", model, e.what()));
  }
  std::vector<ir::Constant> inline_constants;
  for (ir::Constant& c : g.constants) {
    if (c.value.dtype() != DType::f32 || c.value.numel() <= kLargestInlineConstant) {
      inline_constants.push_back(std::move(c));
      continue;
    }
    std::string name = g.name + "/" + c.name;
    for (int i = 2; weights.find(name); ++i) name = fmt::format("{}/{}.{}", g.name, c.name, i);
    weights.add(name, std::move(c.value));
    g.parameters.push_back({c.name, name});
  }
  g.constants = std::move(inline_constants);
}

// The weights some node or graph output reads (the optimizer leaves the
// originals of what it folded named but unread), pruned from the graphs' lists.
std::set<std::string> read_weights(ir::GraphFile& graphs) {
  std::set<std::string> read;
  for (auto& [name, g] : graphs.graphs) {
    std::set<std::string> values(g.outputs.begin(), g.outputs.end());
    for (const ir::Node& n : g.nodes) values.insert(n.inputs.begin(), n.inputs.end());
    std::vector<ir::Parameter> kept;
    for (ir::Parameter& p : g.parameters)
      if (values.count(p.name)) {
        read.insert(p.weight);
        kept.push_back(std::move(p));
      }
    g.parameters = std::move(kept);
  }
  return read;
}

// The directory's files other than its weights, for the applications that read
// them beside the model (tokenizers, vocabularies, configs).
void copy_side_files(const std::string& from, const std::string& to) {
  static const std::set<std::string> weight_suffixes = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx"};
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the directory ({})", to, ec.message()));
  for (const fs::directory_entry& e : fs::directory_iterator(from)) {
    if (!e.is_regular_file() || weight_suffixes.count(e.path().extension().string())) continue;
    fs::copy_file(e.path(), fs::path(to) / e.path().filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(fmt::format("{}: cannot copy it into {} ({})", e.path().string(), to, ec.message()));
  }
}

std::string output_file(const std::string& model, const std::string& out) {
  std::error_code ec;
  if (!fs::is_directory(model, ec)) {
    if (!out.ends_with(".safetensors"))
      throw Error(fmt::format("{}: the output of a model file must end in .safetensors", out));
    return out;
  }
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw Error(fmt::format("{}: a checkpoint directory quantizes into a directory, and this is a file", out));
  if (fs::exists(out, ec) && fs::equivalent(model, out, ec))
    throw Error(fmt::format("{}: the output directory must not be the model's own", out));
  copy_side_files(model, out);
  return (fs::path(out) / detail::kHeedFileInDirectory).string();
}

}  // namespace

QuantizeSummary quantize_model(const std::string& model, const std::string& out, Precision precision,
                               const std::string& extra_weights, const Calibration* calibration) {
  if (precision == Precision::f32) throw Error("quantize: the precision must be int8 or bf16");
  if (calibration && precision != Precision::int8)
    throw Error("quantize: --calibrate is for int8 (bf16 needs no activation scales)");
  WeightStore weights;
  std::map<std::string, std::string> metadata;
  ir::GraphFile graphs = detail::read_model(model, extra_weights, weights, metadata);
  if (std::optional<Precision> p = weights.stored_precision())
    throw Error(fmt::format("{}: its weights are already stored in {}; quantize the fp32 model", model,
                            precision_name(*p)));
  for (auto& [name, g] : graphs.graphs) prepare_graph(g, weights, model);
  const std::map<std::string, std::set<int>> axes = projection_axes(graphs, weights);

  QuantizeSummary s{graphs.graphs.size()};
  if (calibration) {
    auto prepare = [&](ir::Graph& g, WeightStore& w) { prepare_graph(g, w, model); };
    auto ranges = calibrate(model, extra_weights, *calibration, prepare);
    std::vector<std::string> names;
    for (const auto& [name, g] : graphs.graphs) names.push_back(name);
    s.calibrated_graph = ir::chosen_graph(names, calibration->graph, model);
    s.calibrated = ranges.size();
    graphs.graphs.at(s.calibrated_graph).activation_ranges = std::move(ranges);
  }
  const std::set<std::string> named = read_weights(graphs);
  NamedTensors tensors;
  std::map<std::string, StoredWeight> stored;
  std::map<std::string, std::string> scales;
  for (const std::string& name : named) {
    const Tensor& t = *weights.find(name);
    s.fp32_bytes += t.nbytes();
    auto a = axes.find(name);
    if (a == axes.end() || a->second.size() != 1 || t.dtype() != DType::f32 || t.numel() == 0) {
      tensors.emplace_back(name, t);
      ++s.kept, s.kept_bytes += t.nbytes();
      continue;
    }
    StoredWeight w = store_weight(t, precision, *a->second.begin(), name);
    tensors.emplace_back(name, w.values);
    s.stored_bytes += w.values.nbytes() + w.scales.nbytes();
    if (precision == Precision::int8) {
      std::string scale = name + ".scales";
      for (int i = 2; named.count(scale); ++i) scale = fmt::format("{}.scales.{}", name, i);
      tensors.emplace_back(scale, w.scales);
      scales[name] = scale;
    }
    stored.emplace(name, std::move(w));
    ++s.stored;
  }
  graphs.weights.clear();
  metadata["heed.graph"] = ir::write_graph_json(graphs);
  metadata[kQuantizedKey] = stored_weights_metadata(precision, stored, scales);
  fs::path source(model);
  if (source.filename().empty()) source = source.parent_path();  // "dir/"
  metadata["heed.quantized_from"] = source.filename().string();  // no machine paths
  write_safetensors(output_file(model, out), tensors, metadata);
  return s;
}

}  // namespace heed
