#include "engine/calibrate.h"

#include <heed/error.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/model_impl.h"
#include "engine/safetensors.h"
#include "engine/validate.h"

namespace heed {
namespace {

// Adds every rank-4 f32 value of `g` to its outputs; returns their names.
std::vector<std::string> expose_activations(ir::Graph& g, WeightStore& weights) {
  auto types = ir::validate_graph(g, [&](const std::string& w) { return weights.find(w); }, weights.describe_sources());
  std::vector<std::string> names;
  auto consider = [&](const std::string& value) {
    const ir::ValueType& t = types.at(value);
    if (t.dtype != DType::f32 || t.rank() != 4) return;
    names.push_back(value);
    if (std::find(g.outputs.begin(), g.outputs.end(), value) == g.outputs.end()) g.outputs.push_back(value);
  };
  for (const ir::GraphInput& in : g.inputs) consider(in.name);
  for (const ir::Node& n : g.nodes)
    for (const std::string& out : n.outputs) consider(out);
  return names;
}

void widen(std::pair<float, float>& range, const Tensor& t, const std::string& value, const std::string& file) {
  const float* x = t.data_as<float>();
  float lo = range.first, hi = range.second;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (!std::isfinite(x[i]))
      throw Error(fmt::format("{}: value '{}' holds {} on these inputs: calibrate on finite activations", file, value,
                              x[i]));
    lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  }
  range = {lo, hi};
}

}  // namespace

std::map<std::string, std::pair<float, float>> calibrate(const std::string& model, const std::string& extra_weights,
                                                         const Calibration& c, const GraphPrepare& prepare) {
  if (c.inputs.empty()) throw Error("calibrate: no input files");
  std::string graph;
  std::vector<std::string> recorded;
  detail::GraphEdit edit = [&](ir::GraphFile& file, WeightStore& weights) {
    std::vector<std::string> names;
    for (auto& [name, g] : file.graphs) {
      prepare(g, weights);
      names.push_back(name);
    }
    graph = ir::chosen_graph(names, c.graph, model);
    recorded = expose_activations(file.graphs.at(graph), weights);
  };
  LoadOptions options;
  options.weights = extra_weights;
  options.precision = Precision::f32;
  options.optimize = false;  // `prepare` did, as for the quantized file
  Model m = detail::ModelAccess::wrap(std::make_shared<detail::ModelImpl>(model, options, edit));
  SessionOptions so;
  so.graph = graph;
  Session session(m, so);
  std::map<std::string, std::pair<float, float>> ranges;
  for (const std::string& v : recorded) ranges[v] = {INFINITY, -INFINITY};
  for (const std::string& file : c.inputs) {
    SafetensorsFile in = read_safetensors(file);
    TensorMap outputs;
    try {
      outputs = session.run(TensorMap(in.tensors.begin(), in.tensors.end()));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: calibrating graph '{}': {}", file, graph, e.what()));
    }
    for (const std::string& v : recorded) widen(ranges[v], outputs.at(v), v, file);
  }
  for (auto& [v, r] : ranges)
    if (r.first > r.second) r = {0.f, 0.f};  // empty tensors throughout
  return ranges;
}

}  // namespace heed
