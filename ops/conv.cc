// The convolution family, NCHW like PyTorch: Conv2d (with a fused residual add
// and activation), BatchNorm2d (inference), MaxPool2d, AvgPool2d,
// AdaptiveAvgPool2d and Flatten.
#include <heed/error.h>

#include <fmt/format.h>

#include "engine/checked.h"
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/conv.h"

namespace heed::ops {
using namespace ir;

namespace {

std::pair<int64_t, int64_t> pair_attr(const Node& n, const char* key) {
  const auto& v = n.attr_ints(key);
  if (v.size() == 1 || v.size() == 2) return hw_pair(v);
  throw Error(fmt::format("{}: attribute '{}' must have 1 or 2 values", n.where(), key));
}

Dim window_out(const InferContext& c, const Dim& in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  if (!in.is_known()) return Dim{};
  int64_t out = conv_out_size(in.value, k, s, p, d, ceil);
  if (out < 1) c.fail(fmt::format("the window ({} with dilation {}) does not fit an input of {} padded by {}", k, d, in.value, p));
  return Dim::known(out);
}

// Padding of 0 up to the dilated kernel's extent - 1 (ONNX's and PyTorch's
// convolutions allow more, but then whole windows see only padding: the output
// grows with no input behind it, which a hostile file uses to make heed
// allocate gigabytes from an 8x8 input). Pools obey the same bound, which lets
// through every padding ONNX's pools define where it is valid.
void check_padding(const InferContext& c, int64_t ph, int64_t pw, int64_t max_h, int64_t max_w) {
  if (ph < 0 || pw < 0 || ph > max_h || pw > max_w)
    c.fail(fmt::format("padding ({}, {}) must be between 0 and the kernel's extent - 1 ({}, {})", ph, pw,
                       std::max<int64_t>(max_h, 0), std::max<int64_t>(max_w, 0)));
}

void expect_nchw(InferContext& c, size_t i) {
  c.expect_dtype(i, {DType::f32});
  if (c.in(i).rank() != 4) c.fail("input " + shape_str(c.in(i).shape) + " must be [N, C, H, W]");
}

void infer_conv(InferContext& c) {
  using namespace conv2d;
  const Node& n = c.node();
  expect_nchw(c, kX);
  c.expect_dtype(kWeight, {DType::f32});
  const SymShape &x = c.in(kX).shape, &w = c.in(kWeight).shape;
  if (w.size() != 4) c.fail("weight " + shape_str(w) + " must be [out, in / groups, kh, kw]");
  int64_t groups = n.attr_int("groups");
  if (groups < 1) c.fail(fmt::format("groups {} must be >= 1", groups));
  if (x[1].is_known() && w[1].is_known() && x[1].value != w[1].value * groups)
    c.fail(fmt::format("input channels {} != weight's {} x {} groups", x[1].value, w[1].value, groups));
  if (w[0].is_known() && w[0].value % groups) c.fail(fmt::format("out channels {} not divisible by {} groups", w[0].value, groups));
  if (c.has_input(kBias)) {
    c.expect_dtype(kBias, {DType::f32});
    if (c.in(kBias).rank() != 1) c.fail("bias must be [out]");
    c.unify(c.in(kBias).shape[0], w[0], "bias and out channels");
  }
  auto [sh, sw] = pair_attr(n, "stride");
  auto [ph, pw] = pair_attr(n, "padding");
  auto [dh, dw] = pair_attr(n, "dilation");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1) c.fail("stride and dilation must be >= 1");
  if (!w[2].is_known() || !w[3].is_known()) c.fail("the kernel size must be known");
  auto extent = [&](int64_t d, const Dim& k) { return checked_mul(d, std::max<int64_t>(k.value - 1, 0)).value_or(-1); };
  check_padding(c, ph, pw, extent(dh, w[2]), extent(dw, w[3]));
  SymShape y = {x[0], w[0], window_out(c, x[2], w[2].value, sh, ph, dh, false),
                window_out(c, x[3], w[3].value, sw, pw, dw, false)};
  if (c.has_input(kResidual)) {
    expect_nchw(c, kResidual);
    for (size_t d = 0; d < 4; ++d) c.unify(c.in(kResidual).shape[d], y[d], "residual and output " + shape_str(y));
  }
  c.out(0) = {DType::f32, y};
}

void infer_batch_norm(InferContext& c) {
  expect_nchw(c, 0);
  for (size_t i = 1; i < 5; ++i) {
    c.expect_dtype(i, {DType::f32});
    if (c.in(i).rank() != 1) c.fail(fmt::format("input {} '{}' must be [C]", i, c.node().inputs[i]));
    c.unify(c.in(i).shape[0], c.in(0).shape[1], "channels");
  }
  c.out(0) = c.in(0);
}

void infer_pool(InferContext& c) {
  expect_nchw(c, 0);
  const Node& n = c.node();
  auto [kh, kw] = pair_attr(n, "kernel_size");
  auto st = n.attr_ints("stride").empty() ? std::pair{kh, kw} : pair_attr(n, "stride");
  auto [ph, pw] = pair_attr(n, "padding");
  auto [dh, dw] = pair_attr(n, "dilation");
  if (kh < 1 || kw < 1 || st.first < 1 || st.second < 1)
    c.fail(fmt::format("kernel_size ({}, {}) and stride ({}, {}) must be >= 1", kh, kw, st.first, st.second));
  if (dh < 1 || dw < 1 || dh > kMaxTensorBytes || dw > kMaxTensorBytes) c.fail("dilation must be >= 1");
  if ((dh != 1 || dw != 1) && n.op == "AvgPool2d") c.fail("an average pool has no dilation (as PyTorch's)");
  check_padding(c, ph, pw, dh * (kh - 1), dw * (kw - 1));
  bool ceil = n.attr_int("ceil_mode");
  const SymShape& x = c.in(0).shape;
  c.out(0) = {DType::f32, {x[0], x[1], window_out(c, x[2], kh, st.first, ph, dh, ceil),
                           window_out(c, x[3], kw, st.second, pw, dw, ceil)}};
}

void infer_adaptive(InferContext& c) {
  expect_nchw(c, 0);
  auto [oh, ow] = pair_attr(c.node(), "output_size");
  if (oh < 1 || ow < 1) c.fail("output_size must be >= 1");
  const SymShape& x = c.in(0).shape;
  c.out(0) = {DType::f32, {x[0], x[1], Dim::known(oh), Dim::known(ow)}};
}

void infer_flatten(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  int rank = int(x.size());
  int a = c.axis(c.node().attr_int("start_dim"), std::max(rank, 1)), b = c.axis(c.node().attr_int("end_dim"), std::max(rank, 1));
  if (a > b) c.fail(fmt::format("start_dim {} is after end_dim {}", a, b));
  SymShape out(x.begin(), x.begin() + a);
  Dim merged = Dim::known(1);
  for (int i = a; i <= b && i < rank; ++i)
    merged = merged.is_known() && x[i].is_known() ? Dim::known(merged.value * x[i].value) : Dim{};
  out.push_back(merged);
  out.insert(out.end(), x.begin() + std::min(b + 1, rank), x.end());
  c.out(0) = {c.in(0).dtype, out};
}

}  // namespace

void register_conv() {
  register_op(OpDef{.name = "Conv2d",
                    .min_inputs = 2, .max_inputs = 4,
                    .attrs = {{"stride", AttrType::Ints, std::vector<int64_t>{1}},
                              {"padding", AttrType::Ints, std::vector<int64_t>{0}},
                              {"dilation", AttrType::Ints, std::vector<int64_t>{1}},
                              {"groups", AttrType::Int, int64_t(1)},
                              {"activation", AttrType::String, std::string("none"), {"none", "relu"}}},
                    .infer = infer_conv,
                    .weight_axis = [](const Node&, size_t input, const std::vector<const Tensor*>&) {
                      return input == conv2d::kWeight ? 0 : -1;
                    }});
  register_op(OpDef{.name = "BatchNorm2d", .min_inputs = 5, .max_inputs = 5,
                    .attrs = {{"epsilon", AttrType::Float, 1e-5}}, .infer = infer_batch_norm});
  for (const char* name : {"MaxPool2d", "AvgPool2d"})
    register_op(OpDef{.name = name,
                      .attrs = {{"kernel_size", AttrType::Ints, std::nullopt},
                                {"stride", AttrType::Ints, std::vector<int64_t>{}},
                                {"padding", AttrType::Ints, std::vector<int64_t>{0}},
                                {"dilation", AttrType::Ints, std::vector<int64_t>{1}},
                                {"ceil_mode", AttrType::Bool, int64_t(0)},
                                {"count_include_pad", AttrType::Bool, int64_t(1)}},
                      .infer = infer_pool});
  register_op(OpDef{.name = "AdaptiveAvgPool2d", .attrs = {{"output_size", AttrType::Ints, std::nullopt}},
                    .infer = infer_adaptive});
  register_op(OpDef{.name = "Flatten",
                    .attrs = {{"start_dim", AttrType::Int, int64_t(1)}, {"end_dim", AttrType::Int, int64_t(-1)}},
                    .infer = infer_flatten, .output_is_view = true});
}

}  // namespace heed::ops
