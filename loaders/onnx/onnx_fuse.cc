// Patterns exporters spell out in several ONNX nodes that heed runs as one op:
// MatMul + Add of a bias is a Linear (heed's packed GEMM with the bias fused);
// the erf form of GELU, x * 0.5 * (1 + erf(x / sqrt 2)), is Gelu.
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

// The sole consumer of `value`, if its op is `op` and it has the arity of its
// part in a pattern (one input for Erf, two otherwise) and an output.
const NodeProto* next(const OnnxGraph& g, const std::string& value, const char* op, int* index) {
  const NodeProto* n = g.sole_consumer(value, index);
  if (!n || n->op_type != op || n->output.empty() || n->output[0].empty()) return nullptr;
  return n->input.size() == (std::string(op) == "Erf" ? 1u : 2u) ? n : nullptr;
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
  std::string weight = c.weight(c.temp("weight"), transposed(*w));
  std::string bias_value = c.weight(c.temp("bias"), Tensor::copy_of(DType::f32, Shape({n}), bias->second.data()));
  c.emit("Linear", {c.input(0), weight, bias_value}, {}, {add->output[0]});
  g.fused_.insert(i_add);
  return true;
}

}  // namespace

bool fuse(NodeContext& c) {
  const std::string& op = c.node().op_type;
  if (op == "MatMul") return fuse_linear_bias(c);
  if (op == "Div") return fuse_gelu(c);
  return false;
}

}  // namespace heed::onnx_import
