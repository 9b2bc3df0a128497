// Attention as exporters write it, fused into ScaledDotProductAttention on the
// graph the importer built:
//   MatMul(q, k^T) [* or / scalar] [+ mask] -> Softmax(last axis)
//   [-> Where(IsNaN(p), 0, p)] -> MatMul(p, v)
// with scalar Muls on q and k^T (transformers scales each by d^-1/4) folded
// into the scale. k^T is read where it lies (k_transposed), and a Transpose
// that made it from k is dropped. The fused node runs
// on heed's attention core and, like the native attention ops, captures its
// weights for `--attention`.
#include "loaders/onnx/onnx_attention.h"

#include <map>
#include <optional>

namespace heed::onnx_import {
namespace {

class AttentionFusion {
 public:
  AttentionFusion(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types)
      : g_(g), weights_(weights), types_(types), dead_(g.nodes.size(), false) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const std::string& in : g.nodes[i].inputs)
        if (!in.empty()) readers_[in].push_back(i);
      for (const std::string& out : g.nodes[i].outputs) producer_[out] = i;
    }
    for (const std::string& out : g.outputs) readers_[out].push_back(SIZE_MAX);  // never fused away
  }

  int run() {
    int fused = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (g_.nodes[i].op == "Softmax" && fuse(i)) ++fused;
    std::vector<ir::Node> kept;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!dead_[i]) kept.push_back(std::move(g_.nodes[i]));
    g_.nodes = std::move(kept);
    return fused;
  }

 private:
  // The node making `value` when this node is its only reader.
  ir::Node* sole_producer(const std::string& value, const char* op) {
    auto p = producer_.find(value);
    auto r = readers_.find(value);
    if (p == producer_.end() || r == readers_.end() || r->second.size() != 1 || dead_[p->second]) return nullptr;
    ir::Node& n = g_.nodes[p->second];
    return n.op == op ? &n : nullptr;
  }
  size_t index(const ir::Node& n) const { return size_t(&n - g_.nodes.data()); }
  std::optional<float> scalar(const std::string& value) const {
    const Tensor* t = weights_.find(value);
    if (!t || t->dtype() != DType::f32 || t->numel() != 1) return std::nullopt;
    return t->data_as<float>()[0];
  }
  int rank(const std::string& value) const {  // of an f32 value, -1 for anything else
    if (auto t = types_.find(value); t != types_.end()) return t->second.dtype == DType::f32 ? t->second.rank() : -1;
    const Tensor* w = weights_.find(value);
    return w && w->dtype() == DType::f32 ? w->shape().rank() : -1;
  }

  // Walks back through Mul (either side) or Div (by the second) by a scalar, folding it into `scale`.
  std::string unscaled(std::string value, float& scale, std::vector<size_t>& fused) {
    while (true) {
      ir::Node* n = sole_producer(value, "Mul");
      if (!n) n = sole_producer(value, "Div");
      if (!n) return value;
      const bool div = n->op == "Div";
      std::optional<float> s = scalar(n->inputs[1]);
      std::string other = n->inputs[0];
      if (!s && !div && (s = scalar(n->inputs[0]))) other = n->inputs[1];
      if (!s || (div && *s == 0.f)) return value;
      scale = div ? scale / *s : scale * *s;
      fused.push_back(index(*n));
      value = other;
    }
  }

  // p, or Where(IsNaN(p), 0, p) (exporters' guard for rows masked whole, which heed's core already zeroes).
  std::string guarded(const std::string& p, std::vector<size_t>& fused) {
    const auto& r = readers_[p];
    if (r.size() != 2 || r[0] == SIZE_MAX || r[1] == SIZE_MAX) return p;
    ir::Node *isnan = &g_.nodes[r[0]], *where = &g_.nodes[r[1]];
    if (isnan->op != "IsNaN") std::swap(isnan, where);
    if (isnan->op != "IsNaN" || where->op != "Where" || readers_[isnan->outputs[0]].size() != 1) return "";
    if (where->inputs[0] != isnan->outputs[0] || scalar(where->inputs[1]) != 0.f || where->inputs[2] != p) return "";
    fused.push_back(index(*isnan));
    fused.push_back(index(*where));
    return where->outputs[0];
  }

  bool fuse(size_t softmax_index) {
    const ir::Node& sm = g_.nodes[softmax_index];
    const int64_t axis = sm.attr_int("axis");
    if (sm.has_input(1) || rank(sm.inputs[0]) != 4 || (axis != -1 && axis != 3)) return false;
    std::vector<size_t> fused{softmax_index};
    std::string scores = sm.inputs[0], mask;
    if (ir::Node* add = sole_producer(scores, "Add")) {
      for (int side = 0; side < 2 && mask.empty(); ++side) {
        float probe = 1.f;
        std::vector<size_t> ignored;
        std::string v = unscaled(add->inputs[size_t(side)], probe, ignored);
        if (sole_producer(v, "MatMul")) {
          scores = add->inputs[size_t(side)];
          mask = add->inputs[size_t(1 - side)];
        }
      }
      if (mask.empty() || rank(mask) < 1 || rank(mask) > 4) return false;
      fused.push_back(index(*add));
    }
    float scale = 1.f;
    ir::Node* qk = sole_producer(unscaled(scores, scale, fused), "MatMul");
    if (!qk || qk->attr_int("transpose_a")) return false;
    fused.push_back(index(*qk));
    const std::string q = unscaled(qk->inputs[0], scale, fused);
    std::string k = unscaled(qk->inputs[1], scale, fused);
    bool k_transposed = !qk->attr_int("transpose_b");
    // k^T made by a Transpose of the last two dims (GPT-2's key.transpose(-1, -2)): k itself, no copy.
    if (ir::Node* t = sole_producer(k, "Transpose"); t && t->attr_ints("perm") == std::vector<int64_t>{0, 1, 3, 2}) {
      fused.push_back(index(*t));
      k = t->inputs[0];
      k_transposed = !k_transposed;
    }
    const std::string p = guarded(sm.outputs[0], fused);
    if (p.empty() || readers_[p].size() != 1 || readers_[p][0] == SIZE_MAX) return false;
    ir::Node& pv = g_.nodes[readers_[p][0]];
    if (pv.op != "MatMul" || pv.inputs[0] != p || pv.attr_int("transpose_a") || pv.attr_int("transpose_b")) return false;
    if (rank(q) != 4 || rank(k) != 4 || rank(pv.inputs[1]) != 4) return false;
    std::vector<std::string> inputs{q, k, pv.inputs[1]};
    if (!mask.empty()) inputs.push_back(mask);
    pv.op = "ScaledDotProductAttention";
    pv.inputs = inputs;
    pv.attrs = {{"scale", double(scale)}, {"k_transposed", int64_t(k_transposed)}};
    for (size_t i : fused) dead_[i] = true;
    return true;
  }

  ir::Graph& g_;
  const WeightStore& weights_;
  const std::map<std::string, ir::ValueType>& types_;
  std::vector<bool> dead_;
  std::map<std::string, std::vector<size_t>> readers_;
  std::map<std::string, size_t> producer_;
};

}  // namespace

int fuse_attention(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types) {
  return AttentionFusion(g, weights, types).run();
}

}  // namespace heed::onnx_import
