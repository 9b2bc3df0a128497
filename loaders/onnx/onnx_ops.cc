// ONNX ops onto heed's: attribute conventions translated (ONNX's defaults,
// opset differences), the forms heed's ops do not take refused by name.
#include "loaders/onnx/onnx_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "loaders/onnx/onnx_file.h"

namespace heed::onnx_import {
namespace {

using Attrs = std::map<std::string, ir::AttrValue>;

void same_op(NodeContext& c, const std::string& op, size_t arity) {
  std::vector<std::string> in;
  for (size_t i = 0; i < arity; ++i) in.push_back(c.input(i));
  c.emit(op, in);
}

Translator renamed(const std::string& op, size_t arity) {
  return [op, arity](NodeContext& c) { same_op(c, op, arity); };
}

void identity(NodeContext& c) { c.alias(0, c.input(0)); }

bool known_scalar_is(NodeContext& c, size_t i, double want) {
  const Tensor* t = c.known(i);
  if (!t || t->numel() != 1) return false;
  switch (t->dtype()) {
    case DType::f32: return t->data_as<float>()[0] == want;
    case DType::boolean:
    case DType::u8: return t->data_as<uint8_t>()[0] == want;
    default: return false;
  }
}

// Dropout is the identity at inference: training_mode (opset 12+) must be a
// known false, or the ratio a known 0.
void dropout(NodeContext& c) {
  if (c.has_input(2) && !known_scalar_is(c, 2, 0) && !known_scalar_is(c, 1, 0))
    c.fail("training_mode must be a constant false (or the ratio 0): heed runs inference");
  if (c.has_output(1)) c.fail("Dropout's mask output is not produced at inference");
  identity(c);
}

void softmax(NodeContext& c) {
  int rank = c.rank(0);
  int64_t axis = c.attr_int("axis", c.opset() >= 13 ? -1 : 1);
  // Before opset 13 Softmax flattened the dims from `axis` on: the same as heed's only over the last axis.
  if (c.opset() < 13 && axis != -1 && axis != rank - 1)
    c.fail(fmt::format("axis {} of a rank-{} input flattens (opset < 13); heed normalizes over one axis", axis, rank));
  c.emit(c.node().op_type, {c.input(0)}, {{"axis", axis}});
}

Tensor scaled(const Tensor& t, float s) {
  Tensor out = Tensor::copy_of(DType::f32, t.shape(), t.data());
  if (s != 1.0f)
    for (int64_t i = 0; i < out.numel(); ++i) out.data_as<float>()[i] *= s;
  return out;
}

std::string scalar_weight(NodeContext& c, const std::string& name, float v) {
  return c.weight(c.temp(name), Tensor::copy_of(DType::f32, Shape{}, &v));
}

// Gemm with B computed at run time: MatMul with its transposes, then alpha and beta * C.
void gemm_of_values(NodeContext& c, float alpha, float beta) {
  std::string y = c.has_input(2) || alpha != 1.0f ? c.temp("product") : c.output_name();
  c.emit("MatMul", {c.input(0), c.input(1)},
         {{"transpose_a", c.attr_int("transA", 0)}, {"transpose_b", c.attr_int("transB", 0)}}, {y});
  if (alpha != 1.0f) {
    std::string scaled_y = c.has_input(2) ? c.temp("scaled") : c.output_name();
    c.emit("Mul", {y, scalar_weight(c, "alpha", alpha)}, {}, {scaled_y});
    y = scaled_y;
  }
  if (!c.has_input(2)) return;
  std::string bias = c.input(2);
  if (beta != 1.0f) {
    std::string scaled_c = c.temp("scaled_c");
    c.emit("Mul", {bias, scalar_weight(c, "beta", beta)}, {}, {scaled_c});
    bias = scaled_c;
  }
  c.emit("Add", {y, bias});
}

void gemm(NodeContext& c) {
  const Tensor* b = c.known(1);
  float alpha = c.attr_float("alpha", 1.0f), beta = c.attr_float("beta", 1.0f);
  const Tensor* bias = c.known(2);
  const bool linear = b && b->dtype() == DType::f32 && b->shape().rank() == 2 && !c.attr_int("transA", 0) &&
                      (!c.has_input(2) || (bias && bias->dtype() == DType::f32 &&
                                           bias->numel() == b->shape()[c.attr_int("transB", 0) ? 0 : 1]));
  if (!linear) return gemm_of_values(c, alpha, beta);
  // A weight matrix: heed's Linear on the file's weight where it lies ([in, out] without
  // transB), alpha and beta folded into copies when they are not 1.
  const bool trans_b = c.attr_int("transB", 0);
  const int64_t n = b->shape()[trans_b ? 0 : 1];
  std::vector<std::string> in{c.input(0), alpha == 1.f ? c.input(1) : c.weight(c.temp("weight"), scaled(*b, alpha))};
  if (c.has_input(2)) {
    Tensor flat = scaled(*bias, beta);
    in.push_back(c.weight(c.temp("bias"), Tensor::copy_of(DType::f32, Shape({n}), flat.data())));
  }
  c.emit("Linear", in, {{"weight_layout", std::string(trans_b ? "out_in" : "in_out")}});
}

void matmul(NodeContext& c) {
  const Tensor* b = c.known(1);
  if (b && b->dtype() == DType::f32 && b->shape().rank() == 2 && c.rank(0) >= 2) {
    c.emit("Linear", {c.input(0), c.input(1)}, {{"weight_layout", std::string("in_out")}});  // read where it lies
    return;
  }
  const int ra = c.rank(0), rb = c.rank(1);
  if (ra < 1 || rb < 1) c.fail("a scalar operand (MatMul needs rank >= 1)");
  if (ra >= 2 && rb >= 2) return same_op(c, "MatMul", 2);
  // numpy's 1-D operands: a [K] is [1, K] and b [K] is [K, 1], the added dim dropped after.
  const std::string a2 = ra == 1 ? c.temp("a_2d") : c.input(0), b2 = rb == 1 ? c.temp("b_2d") : c.input(1);
  if (ra == 1) c.emit("Unsqueeze", {c.input(0)}, {{"axes", std::vector<int64_t>{0}}}, {a2});
  if (rb == 1) c.emit("Unsqueeze", {c.input(1)}, {{"axes", std::vector<int64_t>{1}}}, {b2});
  const std::string product = c.temp("product");
  c.emit("MatMul", {a2, b2}, {}, {product});
  const int rank = std::max(ra == 1 ? 2 : ra, rb == 1 ? 2 : rb);
  std::vector<int64_t> dropped;
  if (ra == 1) dropped.push_back(rank - 2);
  if (rb == 1) dropped.push_back(rank - 1);
  c.emit("Squeeze", {product}, {{"axes", dropped}});
}

void layer_norm(NodeContext& c) {
  if (c.has_output(1)) c.fail("the mean and inverse std outputs are not produced");
  c.emit("LayerNorm", {c.input(0), c.input(1), c.input(2)},
         {{"axis", c.attr_int("axis", -1)}, {"epsilon", double(c.attr_float("epsilon", 1e-5f))}});
}

// ONNX pads are [begin..., end...]; heed's 2-D ops pad both sides alike.
// SAME_UPPER/SAME_LOWER pads come from the static input size.
// A per-spatial-dim attribute: `spatial` values (the default when absent), each >= `least`.
void flatten(NodeContext& c) {
  int rank = c.rank(0);
  int64_t axis = c.attr_int("axis", 1);
  if (axis < -rank || axis > rank) c.fail(fmt::format("axis {} out of range for rank {}", axis, rank));
  if (axis < 0) axis += rank;
  if (axis == 0) c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{1, -1}}});
  else if (axis == rank) c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{-1, 1}}});
  else if (axis == 1) c.emit("Flatten", {c.input(0)}, {{"start_dim", int64_t(1)}});
  else {
    int64_t inner = 1;
    const ir::ValueType x = *c.type(0);  // a copy: type() returns by value
    for (int i = int(axis); i < rank; ++i) {
      const ir::Dim& d = x.shape[size_t(i)];
      if (!d.is_known()) c.fail(fmt::format("axis {} over a dynamic dim is not imported", axis));
      inner *= d.value;
    }
    c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{-1, inner}}});
  }
}

void transpose(NodeContext& c) { c.emit("Transpose", {c.input(0)}, {{"perm", c.attr_ints("perm", {})}}); }

void concat(NodeContext& c) {
  std::vector<std::string> in;
  for (size_t i = 0; i < c.inputs(); ++i) in.push_back(c.input(i));
  c.emit("Concat", in, {{"axis", c.attr_int("axis", 0)}});
}

void split(NodeContext& c) {
  std::vector<int64_t> sizes = c.opset() >= 13 && c.has_input(1) ? c.ints(1) : c.attr_ints("split", {});
  c.emit("Split", {c.input(0)}, {{"axis", c.attr_int("axis", 0)}, {"sizes", sizes}});
}

// Squeeze and Unsqueeze take axes as an attribute before opset 13, as an input from it on.
std::vector<int64_t> axes(NodeContext& c) {
  return c.opset() >= 13 ? (c.has_input(1) ? c.ints(1) : std::vector<int64_t>{}) : c.attr_ints("axes", {});
}

void squeeze(NodeContext& c) { c.emit("Squeeze", {c.input(0)}, {{"axes", axes(c)}}); }
void unsqueeze(NodeContext& c) { c.emit("Unsqueeze", {c.input(0)}, {{"axes", axes(c)}}); }

void gather(NodeContext& c) { c.emit("Gather", {c.input(0), c.input(1)}, {{"axis", c.attr_int("axis", 0)}}); }

void cast(NodeContext& c) {
  DType to = dtype_from_onnx(int32_t(c.attr_int("to", 0)), fmt::format("{}: node '{}'", c.graph().path_, c.node().name));
  c.emit("Cast", {c.input(0)}, {{"to", std::string(dtype_name(to))}});
}

// A Reduce* node's axes (an attribute, or ReduceSum's input from opset 13); every axis when none are
// given, or nullopt for noop_with_empty_axes.
std::optional<std::vector<int64_t>> reduce_axes(NodeContext& c) {
  const std::string& op = c.node().op_type;
  std::vector<int64_t> axes = op == "ReduceSum" && c.opset() >= 13 ? (c.has_input(1) ? c.ints(1) : std::vector<int64_t>{})
                                                                   : c.attr_ints("axes", {});
  if (axes.empty() && c.attr_int("noop_with_empty_axes", 0)) return std::nullopt;
  if (axes.empty())
    for (int i = 0; i < c.rank(0); ++i) axes.push_back(i);
  return axes;
}

// `op` over `x` with the node's axes and keepdims, into `out` (default: the node's output).
void emit_reduce(NodeContext& c, const std::string& op, const std::string& x, const std::vector<int64_t>& axes,
                 const std::string& out = "") {
  c.emit(op, {x}, {{"axes", axes}, {"keepdims", c.attr_int("keepdims", 1)}},
         out.empty() ? std::vector<std::string>{} : std::vector<std::string>{out});
}

void reduce(NodeContext& c) {
  auto axes = reduce_axes(c);
  if (!axes) return c.alias(0, c.input(0));
  emit_reduce(c, c.node().op_type, c.input(0), *axes);
}

// The reductions heed composes: ReduceMin = -max(-x), ReduceSumSquare = sum(x * x),
// ReduceL1 = sum(|x|), ReduceL2 = sqrt(sum(x * x)).
void composed_reduce(NodeContext& c) {
  const std::string& op = c.node().op_type;
  auto axes = reduce_axes(c);
  std::string x = c.input(0), pre = c.temp("elementwise");
  if (op == "ReduceMin") c.emit("Neg", {x}, {}, {pre});
  else if (op == "ReduceL1") c.emit("Abs", {x}, {}, {pre});
  else c.emit("Mul", {x, x}, {}, {pre});
  const bool post = op == "ReduceMin" || op == "ReduceL2";
  std::string reduced = post ? c.temp("reduced") : c.output_name();
  if (!axes) c.alias(0, pre);  // noop_with_empty_axes: the element-wise part alone, as ONNX defines it
  else emit_reduce(c, op == "ReduceMin" ? "ReduceMax" : "ReduceSum", pre, *axes, reduced);
  if (axes && post) c.emit(op == "ReduceMin" ? "Neg" : "Sqrt", {reduced});
}

// select_last_index: the first maximum of x flipped along the axis, counted from the end.
void argmax(NodeContext& c) {
  std::string x = c.input(0);
  const int rank = c.rank(0);
  int64_t axis = c.attr_int("axis", 0);
  if (axis < -rank || axis >= rank) c.fail(fmt::format("axis {} out of range for rank {}", axis, rank));
  if (axis < 0) axis += rank;
  if (c.node().op_type == "ArgMin") {  // the first minimum is the first maximum of -x
    std::string negated = c.temp("negated");
    c.emit("Neg", {x}, {}, {negated});
    x = negated;
  }
  const Attrs attrs{{"axis", axis}, {"keepdims", c.attr_int("keepdims", 1)}};
  if (!c.attr_int("select_last_index", 0)) return c.emit("ArgMax", {x}, attrs);
  const std::string flipped = c.temp("flipped"), index = c.temp("flipped_index"), dim = c.temp("dim"),
                    last = c.temp("last");
  c.emit("Slice", {x}, {{"starts", std::vector<int64_t>{-1}}, {"ends", std::vector<int64_t>{INT64_MIN}},
                        {"axes", std::vector<int64_t>{axis}}, {"steps", std::vector<int64_t>{-1}}}, {flipped});
  c.emit("ArgMax", {flipped}, attrs, {index});
  c.emit("Shape", {x}, {{"start", axis}, {"end", axis + 1}}, {dim});  // a constant when the dim is static
  Tensor one = Tensor::empty(DType::i64, Shape{1});
  one.data_as<int64_t>()[0] = 1;
  c.emit("Sub", {dim, c.weight(c.temp("one"), std::move(one))}, {}, {last + "_1d"});
  c.emit("Squeeze", {last + "_1d"}, {{"axes", std::vector<int64_t>{0}}}, {last});
  c.emit("Sub", {last, index});
}

void topk(NodeContext& c) {
  std::vector<int64_t> k = c.ints(1);
  if (k.size() != 1) c.fail("K must hold one value");
  if (!c.attr_int("sorted", 1)) c.fail("sorted = 0 is not imported");
  c.emit("TopK", {c.input(0)},
         {{"k", k[0]}, {"axis", c.attr_int("axis", -1)}, {"largest", c.attr_int("largest", 1)}});
}

void binary(NodeContext& c, const std::string& op) {
  auto a = c.type(0), b = c.type(1);
  if (a && b && a->dtype != b->dtype) c.fail(fmt::format("operands of types {} and {}", a->str(), b->str()));
  c.emit(op, {c.input(0), c.input(1)});
}

// Max and Min of any number of inputs: a chain of heed's two-input ops.
void variadic(NodeContext& c, const std::string& op) {
  if (c.inputs() == 1) return c.alias(0, c.input(0));
  std::string acc = c.input(0);
  for (size_t i = 1; i < c.inputs(); ++i) {
    std::string out = i + 1 == c.inputs() ? c.output_name() : c.temp(fmt::format("partial{}", i));
    c.emit(op, {acc, c.input(i)}, {}, {out});
    acc = out;
  }
}

// ONNX's Pow takes an exponent of another type; heed's, f32 for both.
void pow(NodeContext& c) {
  auto base = c.type(0), exponent = c.type(1);
  if (base && exponent && base->dtype == DType::f32 && exponent->dtype != DType::f32) {
    std::string e = c.temp("exponent");
    c.emit("Cast", {c.input(1)}, {{"to", std::string("f32")}}, {e});
    return c.emit("Pow", {c.input(0), e});
  }
  binary(c, "Pow");
}

void reciprocal(NodeContext& c) {
  float one = 1.0f;
  c.emit("Div", {c.weight(c.temp("one"), Tensor::copy_of(DType::f32, Shape{}, &one)), c.input(0)});
}

// Activations ONNX names that heed composes from its element-wise ops.

void expect_f32(NodeContext& c) {
  auto t = c.type(0);
  if (!t || t->dtype != DType::f32) c.fail("heed imports this op on f32 tensors");
}

// Clip: max(x, min) then min(., max); min and max are inputs from opset 11 (either may be left out).
void clip(NodeContext& c) {
  expect_f32(c);
  std::string y = c.input(0);
  const bool has_max = c.has_input(2);
  if (c.has_input(1)) {
    std::string out = has_max ? c.temp("low") : c.output_name();
    c.emit("Maximum", {y, c.input(1)}, {}, {out});
    y = out;
  }
  if (has_max) c.emit("Minimum", {y, c.input(2)});
  else if (!c.has_input(1)) c.alias(0, y);
}

// LeakyRelu: max(x, alpha x) for alpha <= 1, min(x, alpha x) above (the same where x >= 0 and x < 0).
void leaky_relu(NodeContext& c) {
  expect_f32(c);
  float alpha = c.attr_float("alpha", 0.01f);
  std::string scaled = c.temp("scaled");
  c.emit("Mul", {c.input(0), scalar_weight(c, "alpha", alpha)}, {}, {scaled});
  c.emit(alpha <= 1.0f ? "Maximum" : "Minimum", {c.input(0), scaled});
}

// PRelu: where(x < 0, x * slope, x).
void prelu(NodeContext& c) {
  expect_f32(c);
  std::string negative = c.temp("negative"), scaled = c.temp("scaled");
  c.emit("Less", {c.input(0), scalar_weight(c, "zero", 0.0f)}, {}, {negative});
  c.emit("Mul", {c.input(0), c.input(1)}, {}, {scaled});
  c.emit("Where", {negative, scaled, c.input(0)});
}

// HardSigmoid: max(0, min(1, alpha x + beta)).
void hard_sigmoid(NodeContext& c) {
  expect_f32(c);
  std::string ax = c.temp("ax"), lin = c.temp("linear"), top = c.temp("top");
  c.emit("Mul", {c.input(0), scalar_weight(c, "alpha", c.attr_float("alpha", 0.2f))}, {}, {ax});
  c.emit("Add", {ax, scalar_weight(c, "beta", c.attr_float("beta", 0.5f))}, {}, {lin});
  c.emit("Minimum", {lin, scalar_weight(c, "one", 1.0f)}, {}, {top});
  c.emit("Maximum", {top, scalar_weight(c, "zero", 0.0f)});
}

// Elu: where(x > 0, x, alpha (exp(x) - 1)).
void elu(NodeContext& c) {
  expect_f32(c);
  std::string positive = c.temp("positive"), e = c.temp("exp"), em1 = c.temp("expm1"), neg = c.temp("negative");
  c.emit("Greater", {c.input(0), scalar_weight(c, "zero", 0.0f)}, {}, {positive});
  c.emit("Exp", {c.input(0)}, {}, {e});
  c.emit("Sub", {e, scalar_weight(c, "one", 1.0f)}, {}, {em1});
  c.emit("Mul", {em1, scalar_weight(c, "alpha", c.attr_float("alpha", 1.0f))}, {}, {neg});
  c.emit("Where", {positive, c.input(0), neg});
}

// Sum and Mean of any number of inputs: a chain of Adds (then a Div).
void sum_or_mean(NodeContext& c) {
  const bool mean = c.node().op_type == "Mean";
  if (c.inputs() == 1) return c.alias(0, c.input(0));
  std::string acc = c.input(0);
  for (size_t i = 1; i < c.inputs(); ++i) {
    std::string out = i + 1 == c.inputs() && !mean ? c.output_name() : c.temp(fmt::format("partial{}", i));
    c.emit("Add", {acc, c.input(i)}, {}, {out});
    acc = out;
  }
  if (mean) c.emit("Div", {acc, scalar_weight(c, "count", float(c.inputs()))});
}

void cast_like(NodeContext& c) {
  auto like = c.type(1);
  if (!like) c.fail("the type of input 1 is unknown");
  c.emit("Cast", {c.input(0)}, {{"to", std::string(dtype_name(like->dtype))}});
}

const std::map<std::string, Translator>& translators() {
  static std::map<std::string, Translator> all = {
      {"Add", [](NodeContext& c) { binary(c, "Add"); }},
      {"Sub", [](NodeContext& c) { binary(c, "Sub"); }},
      {"Mul", [](NodeContext& c) { binary(c, "Mul"); }},
      {"Div", [](NodeContext& c) { binary(c, "Div"); }},
      {"Pow", pow},
      {"Max", [](NodeContext& c) { variadic(c, "Maximum"); }},
      {"Min", [](NodeContext& c) { variadic(c, "Minimum"); }},
      {"Sqrt", renamed("Sqrt", 1)}, {"Exp", renamed("Exp", 1)}, {"Log", renamed("Log", 1)},
      {"Tanh", renamed("Tanh", 1)}, {"Sigmoid", renamed("Sigmoid", 1)}, {"Relu", renamed("Relu", 1)},
      {"Neg", renamed("Neg", 1)}, {"Reciprocal", reciprocal}, {"Erf", renamed("Erf", 1)}, {"Abs", renamed("Abs", 1)},
      {"Equal", [](NodeContext& c) { binary(c, "Equal"); }}, {"Less", [](NodeContext& c) { binary(c, "Less"); }},
      {"Greater", [](NodeContext& c) { binary(c, "Greater"); }},
      {"LessOrEqual", [](NodeContext& c) { binary(c, "LessOrEqual"); }},
      {"GreaterOrEqual", [](NodeContext& c) { binary(c, "GreaterOrEqual"); }},
      {"And", renamed("And", 2)}, {"Or", renamed("Or", 2)}, {"Xor", renamed("Xor", 2)}, {"Not", renamed("Not", 1)},
      {"IsNaN", renamed("IsNaN", 1)}, {"Where", renamed("Where", 3)},
      {"Softmax", softmax}, {"LogSoftmax", softmax},
      {"Gemm", gemm}, {"MatMul", matmul}, {"LayerNormalization", layer_norm},
      {"Flatten", flatten},
      {"Transpose", transpose}, {"Concat", concat}, {"Split", split},
      {"Squeeze", squeeze}, {"Unsqueeze", unsqueeze}, {"Gather", gather}, {"Cast", cast},
      {"Identity", identity}, {"Dropout", dropout},
      {"ReduceMean", reduce}, {"ReduceSum", reduce}, {"ReduceMax", reduce},
      {"ArgMax", argmax}, {"ArgMin", argmax}, {"TopK", topk},
      {"ReduceMin", composed_reduce}, {"ReduceSumSquare", composed_reduce}, {"ReduceL1", composed_reduce},
      {"ReduceL2", composed_reduce},
      {"Clip", clip}, {"LeakyRelu", leaky_relu}, {"PRelu", prelu}, {"HardSigmoid", hard_sigmoid}, {"Elu", elu},
      {"Sum", sum_or_mean}, {"Mean", sum_or_mean}, {"CastLike", cast_like},
      {"ReduceProd", reduce},
  };
  static const bool with_shape_ops = (add_shape_translators(all), add_scan_pad_translators(all),
                                        add_recurrent_translators(all), add_conv_translators(all),
                                        add_einsum_translator(all), true);
  (void)with_shape_ops;
  return all;
}

}  // namespace

size_t min_inputs(const std::string& op_type) {
  static const std::map<std::string, size_t> least = {
      {"Add", 2}, {"Sub", 2}, {"Mul", 2}, {"Div", 2}, {"Pow", 2}, {"Equal", 2}, {"Less", 2}, {"Greater", 2},
      {"LessOrEqual", 2}, {"GreaterOrEqual", 2}, {"And", 2}, {"Or", 2}, {"Xor", 2}, {"Where", 3}, {"MatMul", 2},
      {"Gemm", 2}, {"LayerNormalization", 2}, {"Conv", 2}, {"BatchNormalization", 5}, {"Reshape", 2},
      {"Expand", 2}, {"Range", 3}, {"Slice", 3}, {"Gather", 2}, {"GatherElements", 2}, {"TopK", 2},
      {"Constant", 0}, {"ConstantOfShape", 1}};
  auto it = least.find(op_type);
  return it == least.end() ? 1 : it->second;
}

const Translator* find_translator(const std::string& op_type) {
  auto it = translators().find(op_type);
  return it == translators().end() ? nullptr : &it->second;
}

}  // namespace heed::onnx_import
