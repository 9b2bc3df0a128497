// ONNX ops onto heed's: attribute conventions translated (ONNX's defaults,
// opset differences), the forms heed's ops do not take refused by name.
#include "loaders/onnx/onnx_ops.h"

#include <cmath>
#include <map>

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

void pass_through(NodeContext& c) {  // Identity; Dropout at inference
  c.alias(0, c.input(0));
  if (c.has_output(1)) c.fail("Dropout's mask output is not produced at inference");
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

void gemm(NodeContext& c) {
  const Tensor* b = c.known(1);
  if (c.attr_int("transA", 0)) c.fail("transA = 1 is not imported");
  if (!b || b->dtype() != DType::f32 || b->shape().rank() != 2) c.fail("B must be a known f32 matrix (a weight)");
  float alpha = c.attr_float("alpha", 1.0f), beta = c.attr_float("beta", 1.0f);
  Tensor w = c.attr_int("transB", 0) ? scaled(*b, alpha) : transposed(scaled(*b, alpha));
  std::vector<std::string> in{c.input(0), c.weight(c.temp("weight"), w)};
  if (c.has_input(2)) {
    const Tensor* bias = c.known(2);
    if (!bias || bias->numel() != w.shape()[0]) c.fail("C must be a known vector of the output size");
    Tensor flat = scaled(*bias, beta);
    in.push_back(c.weight(c.temp("bias"), Tensor::copy_of(DType::f32, Shape({w.shape()[0]}), flat.data())));
  }
  c.emit("Linear", in);
}

void matmul(NodeContext& c) {
  const Tensor* b = c.known(1);
  if (b && b->dtype() == DType::f32 && b->shape().rank() == 2 && c.rank(0) >= 2) {
    c.emit("Linear", {c.input(0), c.weight(c.temp("weight"), transposed(*b))});
    return;
  }
  if (c.rank(0) < 2 || c.rank(1) < 2) c.fail("1-D operands are not imported yet");
  same_op(c, "MatMul", 2);
}

void layer_norm(NodeContext& c) {
  if (c.has_output(1)) c.fail("the mean and inverse std outputs are not produced");
  c.emit("LayerNorm", {c.input(0), c.input(1), c.input(2)},
         {{"axis", c.attr_int("axis", -1)}, {"epsilon", double(c.attr_float("epsilon", 1e-5f))}});
}

// ONNX pads are [begin..., end...]; heed's 2-D ops pad both sides alike.
std::vector<int64_t> symmetric_pads(NodeContext& c, size_t spatial) {
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") c.fail("auto_pad " + auto_pad + " is not imported");
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  if (pads.size() != 2 * spatial) c.fail("pads must have 2 entries per spatial dim");
  for (size_t i = 0; i < spatial; ++i)
    if (pads[i] != pads[i + spatial]) c.fail(fmt::format("asymmetric pads [{}] are not imported", fmt::join(pads, ", ")));
  return {pads.begin(), pads.begin() + spatial};
}

void expect_2d(NodeContext& c) {
  if (c.rank(0) != 4) c.fail(fmt::format("a rank-{} input: heed imports 2-D (NCHW) forms", c.rank(0)));
}

void conv(NodeContext& c) {
  expect_2d(c);
  std::vector<std::string> in{c.input(0), c.input(1)};
  if (c.has_input(2)) in.push_back(c.input(2));
  c.emit("Conv2d", in, {{"stride", c.attr_ints("strides", {1, 1})}, {"padding", symmetric_pads(c, 2)},
                        {"dilation", c.attr_ints("dilations", {1, 1})}, {"groups", c.attr_int("group", 1)}});
}

void batch_norm(NodeContext& c) {
  expect_2d(c);
  if (c.attr_int("training_mode", 0)) c.fail("training_mode = 1");
  std::vector<std::string> in;
  for (size_t i = 0; i < 5; ++i) in.push_back(c.input(i));
  c.emit("BatchNorm2d", in, {{"epsilon", double(c.attr_float("epsilon", 1e-5f))}}, {c.output_name(0)});
}

void pool(NodeContext& c) {
  expect_2d(c);
  if (c.attr_int("storage_order", 0)) c.fail("storage_order = 1");
  for (int64_t d : c.attr_ints("dilations", {1, 1}))
    if (d != 1) c.fail("dilations are not imported");
  if (c.has_output(1)) c.fail("the indices output is not produced");
  Attrs a{{"kernel_size", c.attr_ints("kernel_shape", {})}, {"stride", c.attr_ints("strides", {1, 1})},
          {"padding", symmetric_pads(c, 2)}, {"ceil_mode", c.attr_int("ceil_mode", 0)}};
  bool max = c.node().op_type == "MaxPool";
  if (!max) a["count_include_pad"] = c.attr_int("count_include_pad", 0);
  c.emit(max ? "MaxPool2d" : "AvgPool2d", {c.input(0)}, a);
}

void global_average_pool(NodeContext& c) {
  expect_2d(c);
  c.emit("AdaptiveAvgPool2d", {c.input(0)}, {{"output_size", std::vector<int64_t>{1, 1}}});
}

void flatten(NodeContext& c) {
  int rank = c.rank(0);
  int64_t axis = c.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis == 0) c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{1, -1}}});
  else if (axis == rank) c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{-1, 1}}});
  else if (axis == 1) c.emit("Flatten", {c.input(0)}, {{"start_dim", int64_t(1)}});
  else {
    int64_t inner = 1;
    for (int i = int(axis); i < rank; ++i) {
      const ir::Dim& d = c.type(0)->shape[size_t(i)];
      if (!d.is_known()) c.fail(fmt::format("axis {} over a dynamic dim is not imported", axis));
      inner *= d.value;
    }
    c.emit("Reshape", {c.input(0)}, {{"shape", std::vector<int64_t>{-1, inner}}});
  }
}

std::vector<int64_t> reshape_spec(NodeContext& c) {
  std::vector<int64_t> spec = c.ints(1);
  if (c.attr_int("allowzero", 0))
    for (int64_t d : spec)
      if (d == 0) c.fail("allowzero = 1 with a 0 in the shape (an empty tensor) is not imported");
  return spec;
}

void reshape(NodeContext& c) { c.emit("Reshape", {c.input(0)}, {{"shape", reshape_spec(c)}}); }

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

void slice(NodeContext& c) {
  Attrs a;
  if (c.opset() >= 10) {
    a = {{"starts", c.ints(1)}, {"ends", c.ints(2)}};
    if (c.has_input(3)) a["axes"] = c.ints(3);
    if (c.has_input(4)) a["steps"] = c.ints(4);
  }
  c.emit("Slice", {c.input(0)}, a);
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

void reduce(NodeContext& c) {
  const std::string& op = c.node().op_type;
  // ReduceSum takes axes as an input from opset 13; the others from opset 18 (past what heed imports).
  std::vector<int64_t> axes = op == "ReduceSum" && c.opset() >= 13 ? (c.has_input(1) ? c.ints(1) : std::vector<int64_t>{})
                                                                   : c.attr_ints("axes", {});
  if (axes.empty() && c.attr_int("noop_with_empty_axes", 0)) {
    c.alias(0, c.input(0));
    return;
  }
  if (axes.empty())
    for (int i = 0; i < c.rank(0); ++i) axes.push_back(i);
  c.emit(op, {c.input(0)}, {{"axes", axes}, {"keepdims", c.attr_int("keepdims", 1)}});
}

void argmax(NodeContext& c) {
  if (c.attr_int("select_last_index", 0)) c.fail("select_last_index = 1 is not imported");
  c.emit("ArgMax", {c.input(0)}, {{"axis", c.attr_int("axis", 0)}, {"keepdims", c.attr_int("keepdims", 1)}});
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

void reciprocal(NodeContext& c) {
  float one = 1.0f;
  c.emit("Div", {c.weight(c.temp("one"), Tensor::copy_of(DType::f32, Shape{}, &one)), c.input(0)});
}

const std::map<std::string, Translator>& translators() {
  static const std::map<std::string, Translator> all = {
      {"Add", [](NodeContext& c) { binary(c, "Add"); }},
      {"Sub", [](NodeContext& c) { binary(c, "Sub"); }},
      {"Mul", [](NodeContext& c) { binary(c, "Mul"); }},
      {"Div", [](NodeContext& c) { binary(c, "Div"); }},
      {"Pow", [](NodeContext& c) { binary(c, "Pow"); }},
      {"Max", [](NodeContext& c) {
         if (c.inputs() != 2) c.fail("heed imports Max of two inputs");
         binary(c, "Maximum");
       }},
      {"Min", [](NodeContext& c) {
         if (c.inputs() != 2) c.fail("heed imports Min of two inputs");
         binary(c, "Minimum");
       }},
      {"Sqrt", renamed("Sqrt", 1)}, {"Exp", renamed("Exp", 1)}, {"Log", renamed("Log", 1)},
      {"Tanh", renamed("Tanh", 1)}, {"Sigmoid", renamed("Sigmoid", 1)}, {"Relu", renamed("Relu", 1)},
      {"Neg", renamed("Neg", 1)}, {"Reciprocal", reciprocal},
      {"Softmax", softmax}, {"LogSoftmax", softmax},
      {"Gemm", gemm}, {"MatMul", matmul}, {"LayerNormalization", layer_norm},
      {"Conv", conv}, {"BatchNormalization", batch_norm}, {"MaxPool", pool}, {"AveragePool", pool},
      {"GlobalAveragePool", global_average_pool}, {"Flatten", flatten},
      {"Reshape", reshape}, {"Transpose", transpose}, {"Concat", concat}, {"Split", split}, {"Slice", slice},
      {"Squeeze", squeeze}, {"Unsqueeze", unsqueeze}, {"Gather", gather}, {"Cast", cast},
      {"Identity", pass_through}, {"Dropout", pass_through},
      {"ReduceMean", reduce}, {"ReduceSum", reduce}, {"ReduceMax", reduce},
      {"ArgMax", argmax}, {"TopK", topk},
  };
  return all;
}

}  // namespace

Tensor transposed(const Tensor& w) {
  int64_t k = w.shape()[0], n = w.shape()[1];
  Tensor t = Tensor::empty(DType::f32, Shape({n, k}));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) t.data_as<float>()[j * k + i] = w.data_as<float>()[i * n + j];
  return t;
}

const Translator* find_translator(const std::string& op_type) {
  auto it = translators().find(op_type);
  return it == translators().end() ? nullptr : &it->second;
}

}  // namespace heed::onnx_import
