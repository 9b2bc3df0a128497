#include "engine/optimize.h"

#include <cmath>
#include <map>

#include "ops/conv.h"

namespace heed::ir {
namespace {

using namespace ops::conv2d;

struct Uses {
  std::map<std::string, int> readers;
  std::map<std::string, size_t> producer;  // value -> node index
  explicit Uses(const Graph& g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const std::string& in : g.nodes[i].inputs)
        if (!in.empty()) ++readers[in];
      for (const std::string& out : g.nodes[i].outputs) producer[out] = i;
    }
    for (const std::string& out : g.outputs) readers[out] += 1000;  // never fuse a graph output away
  }
  // The plain Conv2d whose only reader of `value` is one node.
  Node* sole_conv_producer(Graph& graph, const std::string& value) const {
    auto p = producer.find(value);
    if (p == producer.end() || readers.at(value) != 1) return nullptr;
    Node& n = graph.nodes[p->second];
    if (n.op != "Conv2d" || n.attr_string("activation") != "none" || n.has_input(kResidual)) return nullptr;
    return &n;
  }
};

const Tensor* constant_of(const Graph& g, const WeightLookup& weights, const std::string& value) {
  for (const Parameter& p : g.parameters)
    if (p.name == value) return weights(p.weight);
  for (const Constant& c : g.constants)
    if (c.name == value) return &c.value;
  return nullptr;
}

std::string fresh_name(const Graph& g, const std::string& base) {
  std::string name = base;
  for (int i = 2;; ++i) {
    bool taken = false;
    for (const Constant& c : g.constants) taken |= c.name == name;
    for (const Parameter& p : g.parameters) taken |= p.name == name;
    if (!taken) return name;
    name = base + "." + std::to_string(i);
  }
}

// conv -> batch norm: W'[o] = W[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o],
// s = gamma / sqrt(var + eps).
bool fold_batch_norm(Graph& g, const WeightLookup& weights, size_t bn_index) {
  Node& bn = g.nodes[bn_index];
  Uses uses(g);
  Node* conv = uses.sole_conv_producer(g, bn.inputs[0]);
  if (!conv) return false;
  const Tensor* w = constant_of(g, weights, conv->inputs[kWeight]);
  const Tensor* b = conv->has_input(kBias) ? constant_of(g, weights, conv->inputs[kBias]) : nullptr;
  const Tensor *gamma = constant_of(g, weights, bn.inputs[1]), *beta = constant_of(g, weights, bn.inputs[2]),
               *mean = constant_of(g, weights, bn.inputs[3]), *var = constant_of(g, weights, bn.inputs[4]);
  if (!w || (conv->has_input(kBias) && !b) || !gamma || !beta || !mean || !var) return false;
  int64_t out = w->shape()[0], per = w->numel() / out;
  double eps = bn.attr_float("epsilon");
  Tensor nw = Tensor::empty(DType::f32, w->shape()), nb = Tensor::empty(DType::f32, {out});
  for (int64_t o = 0; o < out; ++o) {
    double s = double(gamma->data_as<float>()[o]) / std::sqrt(double(var->data_as<float>()[o]) + eps);
    for (int64_t i = 0; i < per; ++i) nw.data_as<float>()[o * per + i] = float(w->data_as<float>()[o * per + i] * s);
    double bias = b ? b->data_as<float>()[o] : 0.0;
    nb.data_as<float>()[o] = float((bias - mean->data_as<float>()[o]) * s + beta->data_as<float>()[o]);
  }
  std::string wn = fresh_name(g, conv->name + ".folded_weight"), bname = fresh_name(g, conv->name + ".folded_bias");
  g.constants.push_back({wn, nw});
  g.constants.push_back({bname, nb});
  conv->inputs.resize(std::max<size_t>(conv->inputs.size(), 3));
  conv->inputs[kWeight] = wn;
  conv->inputs[kBias] = bname;
  conv->outputs[0] = bn.outputs[0];
  g.nodes.erase(g.nodes.begin() + long(bn_index));
  return true;
}

bool fuse_add(Graph& g, size_t add_index, const std::map<std::string, ValueType>& types) {
  Node& add = g.nodes[add_index];
  Uses uses(g);
  for (int side = 0; side < 2; ++side) {
    Node* conv = uses.sole_conv_producer(g, add.inputs[size_t(side)]);
    const std::string& other = add.inputs[size_t(1 - side)];
    if (!conv || !(types.at(other).shape == types.at(add.inputs[size_t(side)]).shape)) continue;
    conv->inputs.resize(4);
    conv->inputs[kResidual] = other;
    conv->outputs[0] = add.outputs[0];
    g.nodes.erase(g.nodes.begin() + long(add_index));
    return true;
  }
  return false;
}

bool fuse_relu(Graph& g, size_t relu_index) {
  Node& relu = g.nodes[relu_index];
  Uses uses(g);
  auto p = uses.producer.find(relu.inputs[0]);
  if (p == uses.producer.end() || uses.readers.at(relu.inputs[0]) != 1) return false;
  Node& conv = g.nodes[p->second];
  if (conv.op != "Conv2d" || conv.attr_string("activation") != "none") return false;
  conv.attrs["activation"] = std::string("relu");
  conv.outputs[0] = relu.outputs[0];
  g.nodes.erase(g.nodes.begin() + long(relu_index));
  return true;
}

}  // namespace

OptimizeReport optimize_graph(Graph& g, const WeightLookup& weights) {
  OptimizeReport r;
  for (size_t i = 0; i < g.nodes.size();)
    if (g.nodes[i].op == "BatchNorm2d" && fold_batch_norm(g, weights, i)) ++r.folded_batch_norms;
    else ++i;
  auto types = infer_types(g, weights, [&] {
    std::map<std::string, ValueType> in;
    for (const GraphInput& x : g.inputs) in[x.name] = x.type;
    return in;
  }());
  for (size_t i = 0; i < g.nodes.size();)
    if (g.nodes[i].op == "Add" && fuse_add(g, i, types)) ++r.fused_adds;
    else ++i;
  for (size_t i = 0; i < g.nodes.size();)
    if (g.nodes[i].op == "Relu" && fuse_relu(g, i)) ++r.fused_relus;
    else ++i;
  return r;
}

}  // namespace heed::ir
