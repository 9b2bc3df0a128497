// Patterns exporters spell out in several ONNX nodes that heed runs as one op:
// MatMul + Add of a bias is a Linear (heed's packed GEMM with the bias fused);
// the erf form of GELU, x * 0.5 * (1 + erf(x / sqrt 2)), is Gelu.
#include <algorithm>
#include <cmath>

#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

// The known scalar operand of a binary node whose other operand is `other`, if any.
const Tensor* scalar_beside(const OnnxGraph& g, const NodeProto& n, const std::string& other) {
  if (n.input.size() != 2) return nullptr;
  static const std::string none;
  const std::string& s = n.input[0] == other ? n.input[1] : n.input[1] == other ? n.input[0] : none;
  auto k = g.known_.find(s);
  if (s.empty() || k == g.known_.end() || k->second.numel() != 1 || k->second.dtype() != DType::f32) return nullptr;
  return &k->second;
}

bool near(const Tensor* t, double want) { return t && std::fabs(t->data_as<float>()[0] - want) < 1e-4 * want; }

// The sole consumer of `value`, if its op is `op`, it has an output, and the
// arity of its part in a pattern (one input for the unary ops, two otherwise).
bool unary(const std::string& op) { return op == "Erf" || op == "Tanh" || op == "Sqrt" || op == "ReduceMean"; }

const NodeProto* next(const OnnxGraph& g, const std::string& value, const char* op, int* index) {
  const NodeProto* n = g.sole_consumer(value, index);
  if (!n || n->op_type != op || n->output.empty() || n->output[0].empty()) return nullptr;
  return n->input.size() == (unary(op) ? 1u : 2u) ? n : nullptr;
}

bool fuse_gelu(NodeContext& c) {
  OnnxGraph& g = c.graph();
  const NodeProto& div = c.node();
  if (div.op_type != "Div" || div.input.size() != 2) return false;
  const std::string& x = div.input[0];
  auto k = g.known_.find(div.input[1]);
  if (k == g.known_.end() || k->second.numel() != 1 || k->second.dtype() != DType::f32 ||
      !near(&k->second, std::sqrt(2.0)))
    return false;
  int i_erf, i_add, i_mul, i_half;
  const NodeProto* erf = next(g, div.output[0], "Erf", &i_erf);
  const NodeProto* add = erf ? next(g, erf->output[0], "Add", &i_add) : nullptr;
  const NodeProto* mul = add && near(scalar_beside(g, *add, erf->output[0]), 1.0)
                                   ? next(g, add->output[0], "Mul", &i_mul) : nullptr;
  const NodeProto* half = mul && (mul->input[0] == x || mul->input[1] == x)
                                    ? next(g, mul->output[0], "Mul", &i_half) : nullptr;
  if (!half || !near(scalar_beside(g, *half, mul->output[0]), 0.5)) return false;
  c.emit("Gelu", {c.input(0)}, {{"approximate", std::string("none")}}, {half->output[0]});
  g.fused_.insert({i_erf, i_add, i_mul, i_half});
  return true;
}

// The node writing `value`, if its op is `op`, it has two inputs and `value` has no other reader.
const NodeProto* producer(const OnnxGraph& g, const std::string& value, const char* op, int* index) {
  auto it = g.producers_.find(value);
  if (it == g.producers_.end() || !g.sole_consumer(value)) return nullptr;
  const NodeProto& n = g.model_.graph.node[size_t(it->second)];
  *index = it->second;
  return n.op_type == op && n.input.size() == (unary(op) ? 1u : 2u) ? &n : nullptr;
}

// The other operand of a binary node, beside `one`.
const std::string* other_operand(const NodeProto& n, const std::string& one) {
  return n.input[0] == one ? &n.input[1] : n.input[1] == one ? &n.input[0] : nullptr;
}

// The tanh form of GELU as GPT-2's NewGELUActivation exports it, found from its
// first node, half = x * 0.5:
//   y = half * (1 + tanh(0.7978845608 * (x + 0.044715 * x^3)))
bool fuse_gelu_tanh(NodeContext& c) {
  OnnxGraph& g = c.graph();
  const NodeProto& half = c.node();
  if (half.op_type != "Mul" || half.input.size() != 2) return false;
  for (const std::string& x : half.input) {
    if (!near(scalar_beside(g, half, x), 0.5)) continue;
    int i_y, i_one, i_tanh, i_scale, i_sum, i_cube_scale, i_cube;
    const NodeProto* y = next(g, half.output[0], "Mul", &i_y);
    const std::string* inner = y ? other_operand(*y, half.output[0]) : nullptr;
    const NodeProto* one = inner ? producer(g, *inner, "Add", &i_one) : nullptr;
    const NodeProto* tanh = one ? producer(g, one->input[0], "Tanh", &i_tanh) : nullptr;
    if (!tanh || !near(scalar_beside(g, *one, one->input[0]), 1.0)) continue;
    const NodeProto* scale = producer(g, tanh->input[0], "Mul", &i_scale);
    const std::string* sum_value = scale ? &scale->input[0] : nullptr;
    if (!scale || !near(scalar_beside(g, *scale, *sum_value), 0.7978845608)) continue;
    const NodeProto* sum = producer(g, *sum_value, "Add", &i_sum);
    const std::string* cube_term = sum ? other_operand(*sum, x) : nullptr;
    const NodeProto* cube_scale = cube_term ? producer(g, *cube_term, "Mul", &i_cube_scale) : nullptr;
    if (!cube_scale || !near(scalar_beside(g, *cube_scale, cube_scale->input[0]), 0.044715)) continue;
    const NodeProto* cube = producer(g, cube_scale->input[0], "Pow", &i_cube);
    if (!cube || cube->input[0] != x || !near(scalar_beside(g, *cube, x), 3.0)) continue;
    const int parts[] = {i_y, i_one, i_tanh, i_scale, i_sum, i_cube_scale, i_cube};
    if (*std::min_element(std::begin(parts), std::end(parts)) <= g.current_) continue;  // one is translated already
    c.emit("Gelu", {c.input(half.input[0] == x ? 0 : 1)}, {{"approximate", std::string("tanh")}}, {y->output[0]});
    g.fused_.insert({i_y, i_one, i_tanh, i_scale, i_sum, i_cube_scale, i_cube});
    return true;
  }
  return false;
}

// LayerNorm as exporters write it before opset 17 (over the last axis):
//   d = x - ReduceMean(x); y = d / Sqrt(ReduceMean(d^2) + eps) [* gamma] [+ beta]
// found from its first node, the ReduceMean of x.
bool fuse_layer_norm(NodeContext& c) {
  OnnxGraph& g = c.graph();
  const NodeProto& mean = c.node();
  auto x = c.type(0);
  auto last_axis = [&](const NodeProto& n) {
    for (const AttributeProto& a : n.attribute)
      if (a.name == "axes") return a.ints.size() == 1 && x && (a.ints[0] == -1 || a.ints[0] == x->rank() - 1);
    return false;
  };
  if (!x || x->dtype != DType::f32 || mean.input.size() != 1 || !last_axis(mean)) return false;
  const std::string& in = mean.input[0];
  int i_sub = -1, i_pow = -1, i_var = -1, i_eps = -1, i_sqrt = -1, i_div = -1;
  const NodeProto* sub = next(g, mean.output[0], "Sub", &i_sub);
  if (!sub || sub->input[0] != in || sub->input[1] != mean.output[0]) return false;
  auto readers = g.consumers_.find(sub->output[0]);
  if (readers == g.consumers_.end() || readers->second.size() != 2) return false;
  const NodeProto* pow = nullptr;
  for (int r : readers->second)
    if (g.model_.graph.node[size_t(r)].op_type == "Pow") pow = &g.model_.graph.node[size_t(r)], i_pow = r;
  if (!pow || pow->input.size() != 2 || pow->input[0] != sub->output[0] || !near(scalar_beside(g, *pow, sub->output[0]), 2.0))
    return false;
  const NodeProto* var = next(g, pow->output[0], "ReduceMean", &i_var);
  if (!var || var->input.size() != 1 || !last_axis(*var)) return false;
  const NodeProto* eps_add = next(g, var->output[0], "Add", &i_eps);
  const Tensor* eps = eps_add ? scalar_beside(g, *eps_add, var->output[0]) : nullptr;
  const NodeProto* sqrt = eps ? next(g, eps_add->output[0], "Sqrt", &i_sqrt) : nullptr;
  const NodeProto* div = sqrt ? next(g, sqrt->output[0], "Div", &i_div) : nullptr;
  if (!div || div->input[0] != sub->output[0] || div->input[1] != sqrt->output[0]) return false;
  // The optional elementwise affine: known [C] vectors of the normalized size.
  const int64_t size = x->shape.back().is_known() ? x->shape.back().value : -1;
  auto vector_beside = [&](const NodeProto& n, const std::string& value) -> const std::string* {
    const std::string* other = n.input[0] == value ? &n.input[1] : n.input[1] == value ? &n.input[0] : nullptr;
    auto k = other ? g.known_.find(*other) : g.known_.end();
    if (k == g.known_.end() || k->second.dtype() != DType::f32 || k->second.shape().rank() != 1 || k->second.numel() != size)
      return nullptr;
    return other;
  };
  std::vector<int> parts{i_sub, i_pow, i_var, i_eps, i_sqrt, i_div};
  std::string out = div->output[0];
  int i_scale, i_shift;
  const NodeProto* scale = next(g, out, "Mul", &i_scale);
  const std::string* gamma = scale ? vector_beside(*scale, out) : nullptr;
  const std::string* beta = nullptr;
  if (gamma) {
    out = scale->output[0], parts.push_back(i_scale);
    const NodeProto* shift = next(g, out, "Add", &i_shift);
    beta = shift ? vector_beside(*shift, out) : nullptr;
    if (beta) out = shift->output[0], parts.push_back(i_shift);
  }
  if (*std::min_element(parts.begin(), parts.end()) <= g.current_) return false;  // one is translated already
  std::vector<std::string> inputs{c.input(0)};
  for (const std::string* p : {gamma, beta}) {
    if (!p) break;
    g.weights_.add(*p, g.known_.at(*p));
    g.materialized_.insert(*p);
    inputs.push_back(g.builder_.param(*p));
  }
  c.emit("LayerNorm", inputs, {{"axis", int64_t(-1)}, {"epsilon", double(eps->data_as<float>()[0])}}, {out});
  g.fused_.insert(parts.begin(), parts.end());
  return true;
}

bool fuse_linear_bias(NodeContext& c) {
  OnnxGraph& g = c.graph();
  const Tensor* w = c.known(1);
  auto x = c.type(0);
  if (!w || w->dtype() != DType::f32 || w->shape().rank() != 2 || !x || x->rank() < 2) return false;
  int i_add;
  const NodeProto* add = next(g, c.output_name(), "Add", &i_add);
  if (!add || add->input.size() != 2) return false;
  const std::string& b = add->input[0] == c.output_name() ? add->input[1] : add->input[0];
  auto bias = g.known_.find(b);
  const int64_t n = w->shape()[1];
  if (bias == g.known_.end() || bias->second.dtype() != DType::f32 || bias->second.numel() != n ||
      bias->second.shape()[bias->second.shape().rank() - 1] != n)
    return false;
  std::string bias_value = c.weight(c.temp("bias"), Tensor::copy_of(DType::f32, Shape({n}), bias->second.data()));
  c.emit("Linear", {c.input(0), c.input(1), bias_value}, {{"weight_layout", std::string("in_out")}}, {add->output[0]});
  g.fused_.insert(i_add);
  return true;
}

}  // namespace

bool fuse(NodeContext& c) {
  const std::string& op = c.node().op_type;
  if (op == "MatMul") return fuse_linear_bias(c);
  if (op == "Div") return fuse_gelu(c);
  if (op == "Mul") return fuse_gelu_tanh(c);
  if (op == "ReduceMean") return fuse_layer_norm(c);
  return false;
}

}  // namespace heed::onnx_import
