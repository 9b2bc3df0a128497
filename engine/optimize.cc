#include "engine/optimize.h"

#include <cmath>
#include <deque>
#include <unordered_map>

#include "ops/conv.h"

namespace heed::ir {
namespace {

using namespace ops::conv2d;

// One pass over the graph: who reads and who makes each value, built once. A
// fusion moves the fused node's output onto the conv and marks the fused node
// dead; the pass compacts the list at its end. So a pass is linear in the graph
// (rebuilding these per fusion made a 10^4-node chain take a minute to load).
class Pass {
 public:
  Pass(Graph& g, const WeightLookup& weights) : g_(g), dead_(g.nodes.size(), false) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const std::string& in : g.nodes[i].inputs)
        if (!in.empty()) ++readers_[in];
      for (const std::string& out : g.nodes[i].outputs) producer_[out] = i;
    }
    for (const std::string& out : g.outputs) readers_[out] += 1000;  // never fuse a graph output away
    for (const Parameter& p : g.parameters) constants_[p.name] = weights(p.weight);
    for (const Constant& c : g.constants) constants_[c.name] = &c.value;
  }

  // The Conv2d that makes `value` for one reader only, with no activation yet
  // (and no residual yet, unless `residual_ok`: a ReLU may follow the residual add).
  Node* sole_conv_producer(const std::string& value, bool residual_ok = false) {
    auto p = producer_.find(value);
    if (p == producer_.end() || readers_.at(value) != 1) return nullptr;
    Node& n = g_.nodes[p->second];
    if (n.op != "Conv2d" || n.attr_string("activation") != "none" || (!residual_ok && n.has_input(kResidual)))
      return nullptr;
    return &n;
  }
  // A weight whose values are not made yet (stored quantized, engine/stored_weight.h,
  // in a file `heed quantize` wrote already optimized) folds nothing.
  const Tensor* constant(const std::string& value) const {
    auto it = constants_.find(value);
    return it == constants_.end() || (!it->second->data() && it->second->numel()) ? nullptr : it->second;
  }
  std::string fresh_name(const std::string& base) {
    std::string name = base;
    for (int i = 2; constants_.count(name); ++i) name = base + "." + std::to_string(i);
    return name;
  }
  // Held aside until compact(): appending to the graph's constants now would
  // move the tensors that constants_ points to.
  void add_constant(const std::string& name, Tensor value) {
    added_.push_back({name, std::move(value)});
    constants_[name] = &added_.back().value;
  }
  // `conv` now makes `fused`'s output, and `fused` goes.
  void absorb(Node& conv, size_t fused) {
    conv.outputs[0] = g_.nodes[fused].outputs[0];
    producer_[conv.outputs[0]] = size_t(&conv - g_.nodes.data());
    dead_[fused] = true;
  }
  void compact() {
    std::vector<Node> kept;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!dead_[i]) kept.push_back(std::move(g_.nodes[i]));
    g_.nodes = std::move(kept);
    for (Constant& c : added_) g_.constants.push_back(std::move(c));
    added_.clear();
  }
  Graph& graph() { return g_; }

 private:
  Graph& g_;
  std::vector<bool> dead_;
  std::deque<Constant> added_;
  std::unordered_map<std::string, int> readers_;
  std::unordered_map<std::string, size_t> producer_;  // value -> node index
  std::unordered_map<std::string, const Tensor*> constants_;
};

// conv -> batch norm: W'[o] = W[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o],
// s = gamma / sqrt(var + eps).
bool fold_batch_norm(Pass& pass, size_t bn_index) {
  const Node& bn = pass.graph().nodes[bn_index];
  Node* conv = pass.sole_conv_producer(bn.inputs[0]);
  if (!conv) return false;
  const Tensor* w = pass.constant(conv->inputs[kWeight]);
  const Tensor* b = conv->has_input(kBias) ? pass.constant(conv->inputs[kBias]) : nullptr;
  const Tensor *gamma = pass.constant(bn.inputs[1]), *beta = pass.constant(bn.inputs[2]),
               *mean = pass.constant(bn.inputs[3]), *var = pass.constant(bn.inputs[4]);
  if (!w || (conv->has_input(kBias) && !b) || !gamma || !beta || !mean || !var || w->numel() == 0) return false;
  int64_t out = w->shape()[0], per = w->numel() / out;
  double eps = bn.attr_float("epsilon");
  Tensor nw = Tensor::empty(DType::f32, w->shape()), nb = Tensor::empty(DType::f32, {out});
  for (int64_t o = 0; o < out; ++o) {
    double s = double(gamma->data_as<float>()[o]) / std::sqrt(double(var->data_as<float>()[o]) + eps);
    for (int64_t i = 0; i < per; ++i) nw.data_as<float>()[o * per + i] = float(w->data_as<float>()[o * per + i] * s);
    double bias = b ? b->data_as<float>()[o] : 0.0;
    nb.data_as<float>()[o] = float((bias - mean->data_as<float>()[o]) * s + beta->data_as<float>()[o]);
  }
  std::string wn = pass.fresh_name(conv->name + ".folded_weight");
  pass.add_constant(wn, nw);
  std::string bname = pass.fresh_name(conv->name + ".folded_bias");
  pass.add_constant(bname, nb);
  conv->inputs.resize(std::max<size_t>(conv->inputs.size(), 3));
  conv->inputs[kWeight] = wn;
  conv->inputs[kBias] = bname;
  pass.absorb(*conv, bn_index);
  return true;
}

bool fuse_add(Pass& pass, size_t add_index, const std::map<std::string, ValueType>& types) {
  const Node& add = pass.graph().nodes[add_index];
  for (int side = 0; side < 2; ++side) {
    Node* conv = pass.sole_conv_producer(add.inputs[size_t(side)]);
    const std::string& other = add.inputs[size_t(1 - side)];
    if (!conv || !(types.at(other).shape == types.at(add.inputs[size_t(side)]).shape)) continue;
    conv->inputs.resize(4);
    conv->inputs[kResidual] = other;
    pass.absorb(*conv, add_index);
    return true;
  }
  return false;
}

bool fuse_relu(Pass& pass, size_t relu_index) {
  Node* conv = pass.sole_conv_producer(pass.graph().nodes[relu_index].inputs[0], true);
  if (!conv) return false;
  conv->attrs["activation"] = std::string("relu");
  pass.absorb(*conv, relu_index);
  return true;
}

// Applies `fuse` to every node of type `op` in one pass.
template <typename Fuse>
int fuse_all(Graph& g, const WeightLookup& weights, const char* op, Fuse fuse) {
  Pass pass(g, weights);
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == op && fuse(pass, i)) ++fused;
  pass.compact();
  return fused;
}

}  // namespace

OptimizeReport optimize_graph(Graph& g, const WeightLookup& weights) {
  OptimizeReport r;
  r.folded_batch_norms = fuse_all(g, weights, "BatchNorm2d", fold_batch_norm);
  auto types = infer_types(g, weights, [&] {
    std::map<std::string, ValueType> in;
    for (const GraphInput& x : g.inputs) in[x.name] = x.type;
    return in;
  }());
  r.fused_adds = fuse_all(g, weights, "Add", [&](Pass& p, size_t i) { return fuse_add(p, i, types); });
  r.fused_relus = fuse_all(g, weights, "Relu", fuse_relu);
  return r;
}

}  // namespace heed::ir
