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

#include "loaders/onnx/onnx_rewrite.h"

#include <map>
#include <optional>

namespace heed::onnx_import {
namespace {

class AttentionFusion final : public Fusion {
 public:
  using Fusion::Fusion;

 private:
  // Walks back through Mul (either side) or Div (by the second) by a scalar, folding it into `scale`.
  std::string unscaled(std::string value, float& scale, std::vector<size_t>& fused) {
    while (true) {
      ir::Node* n = rw_.sole_producer(value, "Mul");
      if (!n) n = rw_.sole_producer(value, "Div");
      if (!n) return value;
      const bool div = n->op == "Div";
      std::optional<float> s = rw_.scalar(n->inputs[1]);
      std::string other = n->inputs[0];
      if (!s && !div && (s = rw_.scalar(n->inputs[0]))) other = n->inputs[1];
      if (!s || (div && *s == 0.f)) return value;
      scale = div ? scale / *s : scale * *s;
      fused.push_back(rw_.index(*n));
      value = other;
    }
  }

  // p, or Where(IsNaN(p), 0, p) (exporters' guard for rows masked whole, which heed's core already zeroes).
  std::string guarded(const std::string& p, std::vector<size_t>& fused) {
    const auto& r = rw_.readers(p);
    if (r.size() != 2 || r[0] == GraphRewrite::kGraphOutput || r[1] == GraphRewrite::kGraphOutput) return p;
    ir::Node *isnan = &g_.nodes[r[0]], *where = &g_.nodes[r[1]];
    if (isnan->op != "IsNaN") std::swap(isnan, where);
    if (isnan->op != "IsNaN" || where->op != "Where" || rw_.readers(isnan->outputs[0]).size() != 1) return "";
    if (where->inputs[0] != isnan->outputs[0] || rw_.scalar(where->inputs[1]) != 0.f || where->inputs[2] != p) return "";
    fused.push_back(rw_.index(*isnan));
    fused.push_back(rw_.index(*where));
    return where->outputs[0];
  }

  bool fuse(size_t softmax_index) override {
    const ir::Node& sm = g_.nodes[softmax_index];
    const int64_t axis = sm.attr_int("axis");
    if (sm.has_input(1) || rw_.f32_rank(sm.inputs[0]) != 4 || (axis != -1 && axis != 3)) return false;
    std::vector<size_t> fused{softmax_index};
    std::string scores = sm.inputs[0], mask;
    if (ir::Node* add = rw_.sole_producer(scores, "Add")) {
      for (int side = 0; side < 2 && mask.empty(); ++side) {
        float probe = 1.f;
        std::vector<size_t> ignored;
        std::string v = unscaled(add->inputs[size_t(side)], probe, ignored);
        if (rw_.sole_producer(v, "MatMul")) {
          scores = add->inputs[size_t(side)];
          mask = add->inputs[size_t(1 - side)];
        }
      }
      if (mask.empty() || rw_.f32_rank(mask) < 1 || rw_.f32_rank(mask) > 4) return false;
      fused.push_back(rw_.index(*add));
    }
    float scale = 1.f;
    ir::Node* qk = rw_.sole_producer(unscaled(scores, scale, fused), "MatMul");
    if (!qk || qk->attr_int("transpose_a")) return false;
    fused.push_back(rw_.index(*qk));
    const std::string q = unscaled(qk->inputs[0], scale, fused);
    std::string k = unscaled(qk->inputs[1], scale, fused);
    bool k_transposed = !qk->attr_int("transpose_b");
    // k^T made by a Transpose of the last two dims (GPT-2's key.transpose(-1, -2)): k itself, no copy.
    if (ir::Node* t = rw_.sole_producer(k, "Transpose"); t && t->attr_ints("perm") == std::vector<int64_t>{0, 1, 3, 2}) {
      fused.push_back(rw_.index(*t));
      k = t->inputs[0];
      k_transposed = !k_transposed;
    }
    const std::string p = guarded(sm.outputs[0], fused);
    if (p.empty() || rw_.readers(p).size() != 1 || rw_.readers(p)[0] == GraphRewrite::kGraphOutput) return false;
    ir::Node& pv = g_.nodes[rw_.readers(p)[0]];
    if (pv.op != "MatMul" || pv.inputs[0] != p || pv.attr_int("transpose_a") || pv.attr_int("transpose_b")) return false;
    if (rw_.f32_rank(q) != 4 || rw_.f32_rank(k) != 4 || rw_.f32_rank(pv.inputs[1]) != 4) return false;
    std::vector<std::string> inputs{q, k, pv.inputs[1]};
    if (!mask.empty()) inputs.push_back(mask);
    pv.op = "ScaledDotProductAttention";
    pv.inputs = inputs;
    pv.attrs = {{"scale", double(scale)}, {"k_transposed", int64_t(k_transposed)}};
    rw_.take(fused);
    return true;
  }

};

}  // namespace

int fuse_attention(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types) {
  return AttentionFusion(g, weights, types).run("Softmax");
}

}  // namespace heed::onnx_import
