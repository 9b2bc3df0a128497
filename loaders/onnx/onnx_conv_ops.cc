// The convolution family: Conv, ConvTranspose, BatchNormalization, MaxPool,
// AveragePool, GlobalAveragePool onto heed's 2-D (NCHW) ops; a 1-D form runs as
// the 2-D op over [N, C, 1, L].
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

using Attrs = std::map<std::string, ir::AttrValue>;

std::vector<int64_t> spatial_attr(NodeContext& c, const std::string& name, size_t spatial, int64_t fallback,
                                  int64_t least) {
  std::vector<int64_t> v = c.attr_ints(name, std::vector<int64_t>(spatial, fallback));
  if (v.size() != spatial) c.fail(fmt::format("{} has {} values for {} spatial dims", name, v.size(), spatial));
  for (int64_t x : v)
    if (x < least) c.fail(fmt::format("{} [{}] must be >= {}", name, fmt::join(v, ", "), least));
  return v;
}

// ONNX's pads [begin..., end...] after auto_pad.
std::vector<int64_t> pads_of(NodeContext& c, const std::vector<int64_t>& kernel) {
  const size_t spatial = kernel.size();
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> pads = spatial_attr(c, "pads", 2 * spatial, 0, 0);
  if (auto_pad == "VALID") pads.assign(2 * spatial, 0);
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    std::vector<int64_t> strides = spatial_attr(c, "strides", spatial, 1, 1);
    std::vector<int64_t> dilations = spatial_attr(c, "dilations", spatial, 1, 1);
    auto x = c.type(0);
    for (size_t i = 0; i < spatial; ++i) {
      const ir::Dim& in = x->shape[2 + i];
      if (!in.is_known()) c.fail("auto_pad " + auto_pad + " over a dynamic spatial dim is not imported");
      int64_t out = (in.value + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in.value);
      pads[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + spatial] = total - pads[i];
    }
  } else if (auto_pad != "NOTSET" && auto_pad != "VALID") {
    c.fail("auto_pad " + auto_pad + " is not one ONNX defines");
  }
  return pads;
}

bool symmetric(const std::vector<int64_t>& pads) {
  const size_t spatial = pads.size() / 2;
  return std::equal(pads.begin(), pads.begin() + long(spatial), pads.begin() + long(spatial));
}

std::vector<int64_t> symmetric_pads(NodeContext& c, const std::vector<int64_t>& kernel) {
  const size_t spatial = kernel.size();
  std::vector<int64_t> pads = pads_of(c, kernel);
  for (size_t i = 0; i < spatial; ++i)
    if (pads[i] != pads[i + spatial]) c.fail(fmt::format("asymmetric pads [{}] are not imported", fmt::join(pads, ", ")));
  return {pads.begin(), pads.begin() + spatial};
}

// Rank 3 ([N, C, L]) or 4 ([N, C, H, W]): the number of spatial dims heed's 2-D ops take, 1 or 2.
size_t spatial_dims(NodeContext& c) {
  int rank = c.rank(0);
  if (rank != 3 && rank != 4) c.fail(fmt::format("a rank-{} input: heed imports 1-D and 2-D forms", rank));
  return size_t(rank - 2);
}

// A 1-D attribute as the 2-D op's: `lead` for the height placed first.
std::vector<int64_t> as_2d(std::vector<int64_t> v, int64_t lead) {
  if (v.size() == 1) v.insert(v.begin(), lead);
  return v;
}

// A 1-D op runs as the 2-D one over [N, C, 1, L]: Unsqueeze, the op, Squeeze.
void emit_2d(NodeContext& c, size_t spatial, const std::string& op, std::vector<std::string> in, Attrs attrs) {
  if (spatial == 2) return c.emit(op, std::move(in), std::move(attrs));
  std::string x4 = c.temp("as_2d"), y4 = c.temp("2d");
  c.emit("Unsqueeze", {in[0]}, {{"axes", std::vector<int64_t>{2}}}, {x4});
  in[0] = x4;
  c.emit(op, std::move(in), std::move(attrs), {y4});
  c.emit("Squeeze", {y4}, {{"axes", std::vector<int64_t>{2}}});
}

void conv(NodeContext& c) {
  const size_t spatial = spatial_dims(c);
  c.rank(1);  // the weight's type is known (fails by name otherwise)
  auto w = c.type(1);
  std::vector<int64_t> kernel;
  for (size_t i = 2; i < w->shape.size(); ++i) kernel.push_back(w->shape[i].is_known() ? w->shape[i].value : 1);
  if (kernel.size() != spatial) c.fail(fmt::format("the weight {} does not match the input's {} spatial dims",
                                                   w->str(), spatial));
  std::vector<std::string> in{c.input(0), c.input(1)};
  if (spatial == 1) {  // the weight as [O, C / groups, 1, K]
    const Tensor* k = c.known(1);
    if (!k || k->dtype() != DType::f32) c.fail("a 1-D convolution's weight must be a known f32 tensor (a weight)");
    Shape s4{k->shape()[0], k->shape()[1], 1, k->shape()[2]};
    in[1] = c.weight(c.temp("weight_2d"), Tensor::copy_of(DType::f32, s4, k->data()));
  }
  if (c.has_input(2)) in.push_back(c.input(2));
  emit_2d(c, spatial, "Conv2d", in,
          {{"stride", as_2d(spatial_attr(c, "strides", spatial, 1, 1), 1)},
           {"padding", as_2d(symmetric_pads(c, kernel), 0)},
           {"dilation", as_2d(spatial_attr(c, "dilations", spatial, 1, 1), 1)}, {"groups", c.attr_int("group", 1)}});
}

// ONNX's ConvTranspose onto PyTorch's form: pads [begin..., end...] with less
// at the end become output_padding; output_shape (or SAME auto_pad) gives the pads.
void conv_transpose(NodeContext& c) {
  const size_t spatial = spatial_dims(c);
  auto w = c.type(1);
  if (!w || w->rank() != int(spatial) + 2) c.fail("the weight must be [in, out / groups, k...]");
  std::vector<int64_t> kernel;
  for (size_t i = 2; i < w->shape.size(); ++i) {
    if (!w->shape[i].is_known()) c.fail("the kernel size must be known at load");
    kernel.push_back(w->shape[i].value);
  }
  std::vector<int64_t> strides = spatial_attr(c, "strides", spatial, 1, 1);
  std::vector<int64_t> dilations = spatial_attr(c, "dilations", spatial, 1, 1);
  std::vector<int64_t> out_pad = spatial_attr(c, "output_padding", spatial, 0, 0);
  std::vector<int64_t> pads = spatial_attr(c, "pads", 2 * spatial, 0, 0);
  const std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> wanted = c.attr_ints("output_shape", {});
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" || !wanted.empty()) {
    auto x = c.type(0);
    if (wanted.size() > spatial) wanted.erase(wanted.begin(), wanted.end() - long(spatial));  // [N, C, ...] given
    for (size_t i = 0; i < spatial; ++i) {
      const ir::Dim& in = x->shape[2 + i];
      if (!in.is_known()) c.fail("output_shape or auto_pad over a dynamic spatial dim is not imported");
      const int64_t out = wanted.empty() ? in.value * strides[i] : wanted[i];
      const int64_t total = strides[i] * (in.value - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - out;
      if (total < 0) {  // a larger output than the input reaches: rows at the end
        out_pad[i] -= total;
        pads[i] = pads[i + spatial] = 0;
        continue;
      }
      const bool upper = auto_pad == "SAME_UPPER";
      pads[i] = upper ? total / 2 : total - total / 2;
      pads[i + spatial] = total - pads[i];
    }
  } else if (auto_pad == "VALID") {
    pads.assign(2 * spatial, 0);
  }
  std::vector<int64_t> padding(spatial), output_padding(spatial);
  for (size_t i = 0; i < spatial; ++i) {  // the end's extra padding is a negative output_padding
    padding[i] = pads[i];
    output_padding[i] = out_pad[i] + pads[i] - pads[i + spatial];
  }
  std::vector<std::string> in{c.input(0), c.input(1)};
  if (spatial == 1) {  // the weight as [C, O / groups, 1, K]
    in[1] = c.temp("weight_2d");
    c.emit("Unsqueeze", {c.input(1)}, {{"axes", std::vector<int64_t>{2}}}, {in[1]});
  }
  if (c.has_input(2)) in.push_back(c.input(2));
  emit_2d(c, spatial, "ConvTranspose2d", in,
          {{"stride", as_2d(strides, 1)}, {"padding", as_2d(padding, 0)}, {"output_padding", as_2d(output_padding, 0)},
           {"dilation", as_2d(dilations, 1)}, {"groups", c.attr_int("group", 1)}});
}

// Rank 4: BatchNorm2d (folded into a preceding Conv2d at load). Other ranks ([N, C], [N, C, L],
// [N, C, D, H, W]) with known statistics: x * scale + shift per channel, scale and shift computed here.
void batch_norm(NodeContext& c) {
  if (c.attr_int("training_mode", 0)) c.fail("training_mode = 1");
  const int rank = c.rank(0);
  const double eps = c.attr_float("epsilon", 1e-5f);
  if (rank == 4) {
    std::vector<std::string> in;
    for (size_t i = 0; i < 5; ++i) in.push_back(c.input(i));
    return c.emit("BatchNorm2d", in, {{"epsilon", eps}}, {c.output_name(0)});
  }
  if (rank < 2) c.fail(fmt::format("a rank-{} input has no channel axis", rank));
  const Tensor *gamma = c.known(1), *beta = c.known(2), *mean = c.known(3), *var = c.known(4);
  for (const Tensor* t : {gamma, beta, mean, var})
    if (!t || t->dtype() != DType::f32 || t->shape().rank() != 1 || t->numel() != gamma->numel())
      c.fail("a rank-" + std::to_string(rank) + " BatchNormalization needs scale, B, mean and var as f32 [C] weights");
  Shape per_channel{gamma->numel()};
  for (int i = 2; i < rank; ++i) per_channel.push_back(1);
  Tensor scale = Tensor::empty(DType::f32, per_channel), shift = Tensor::empty(DType::f32, per_channel);
  for (int64_t ch = 0; ch < gamma->numel(); ++ch) {
    const double s = gamma->data_as<float>()[ch] / std::sqrt(double(var->data_as<float>()[ch]) + eps);
    scale.data_as<float>()[ch] = float(s);
    shift.data_as<float>()[ch] = float(beta->data_as<float>()[ch] - mean->data_as<float>()[ch] * s);
  }
  const std::string scaled = c.temp("scaled");
  c.emit("Mul", {c.input(0), c.weight(c.temp("scale"), std::move(scale))}, {}, {scaled});
  c.emit("Add", {scaled, c.weight(c.temp("shift"), std::move(shift))});
}

void pool(NodeContext& c) {
  const size_t spatial = spatial_dims(c);
  if (c.attr_int("storage_order", 0)) c.fail("storage_order = 1");
  const std::vector<int64_t> dilations = spatial_attr(c, "dilations", spatial, 1, 1);
  for (int64_t d : dilations)
    if (d != 1 && c.node().op_type != "MaxPool") c.fail("dilations of an AveragePool are not imported");
  if (c.has_output(1)) c.fail("the indices output is not produced");
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape", {});
  if (kernel.size() != spatial)
    c.fail(fmt::format("kernel_shape has {} values for {} spatial dims", kernel.size(), spatial));
  const bool max = c.node().op_type == "MaxPool", include_pad = c.attr_int("count_include_pad", 0);
  std::vector<int64_t> pads = pads_of(c, kernel);
  const std::string op = max ? "MaxPool2d" : "AvgPool2d";
  Attrs a{{"kernel_size", as_2d(kernel, 1)}, {"stride", as_2d(spatial_attr(c, "strides", spatial, 1, 1), 1)},
          {"padding", as_2d(std::vector<int64_t>(pads.begin(), pads.begin() + long(spatial)), 0)},
          {"ceil_mode", c.attr_int("ceil_mode", 0)}};
  if (!max) a["count_include_pad"] = int64_t(include_pad);
  else a["dilation"] = as_2d(dilations, 1);
  if (symmetric(pads)) return emit_2d(c, spatial, op, {c.input(0)}, a);
  // Uneven pads: padded first (the lowest float for a max, 0 for an average), then pooled without
  // padding; an average that leaves the padding out is divided by the same average of ones.
  if (c.attr_int("ceil_mode", 0)) c.fail(fmt::format("uneven pads [{}] with ceil_mode", fmt::join(pads, ", ")));
  std::vector<int64_t> all(4 + 2 * spatial, 0);  // [N, C, spatial...] begins, then ends
  for (size_t i = 0; i < spatial; ++i) all[2 + i] = pads[i], all[4 + spatial + i] = pads[spatial + i];
  a["padding"] = std::vector<int64_t>{0};
  if (!max) a["count_include_pad"] = int64_t(1);
  auto padded_pool = [&](const std::string& x, const std::string& name, double value) {
    const std::string padded = c.temp(name + "_padded"), pooled = c.temp(name + "_pooled");
    c.emit("Pad", {x}, {{"pads", all}, {"value", value}}, {padded});
    c.emit(op, {padded}, a, {pooled});
    return pooled;
  };
  if (spatial == 1) c.fail("uneven pads of a 1-D pool are not imported");
  const std::string y = padded_pool(c.input(0), "x", max ? -3.4028234663852886e38 : 0.0);
  if (max || include_pad) return c.alias(0, y);
  // ones [1, 1, H, W]: ConstantOfShape of [1, 1] and x's spatial dims
  Tensor lead = Tensor::empty(DType::i64, Shape{2});
  lead.data_as<int64_t>()[0] = lead.data_as<int64_t>()[1] = 1;
  const std::string dims = c.temp("spatial_dims"), shape = c.temp("ones_shape"), ones = c.temp("ones");
  c.emit("Shape", {c.input(0)}, {{"start", int64_t(2)}, {"end", int64_t(4)}}, {dims});
  c.emit("Concat", {c.weight(c.temp("lead"), std::move(lead)), dims}, {{"axis", int64_t(0)}}, {shape});
  c.emit("ConstantOfShape", {shape}, {{"value", 1.0}, {"dtype", std::string("f32")}}, {ones});
  c.emit("Div", {y, padded_pool(ones, "ones", 0.0)});
}

// The mean over every spatial dim, kept as size 1: AdaptiveAvgPool2d for NCHW, ReduceMean otherwise.
void global_average_pool(NodeContext& c) {
  int rank = c.rank(0);
  if (rank < 3) c.fail(fmt::format("a rank-{} input has no spatial dims", rank));
  if (rank == 4) return c.emit("AdaptiveAvgPool2d", {c.input(0)}, {{"output_size", std::vector<int64_t>{1, 1}}});
  std::vector<int64_t> axes;
  for (int i = 2; i < rank; ++i) axes.push_back(i);
  c.emit("ReduceMean", {c.input(0)}, {{"axes", axes}, {"keepdims", int64_t(1)}});
}

}  // namespace

void add_conv_translators(std::map<std::string, Translator>& table) {
  table["Conv"] = conv;
  table["ConvTranspose"] = conv_transpose;
  table["BatchNormalization"] = batch_norm;
  table["MaxPool"] = pool;
  table["AveragePool"] = pool;
  table["GlobalAveragePool"] = global_average_pool;
}

}  // namespace heed::onnx_import
