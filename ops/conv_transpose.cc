// ConvTranspose2d, PyTorch's nn.ConvTranspose2d: x [N, C, H, W], weight
// [C, O / groups, kh, kw], bias [O]?; each output dim is
// (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
// (output_padding may be negative: a crop at the end, as ONNX's uneven pads).
#include <fmt/format.h>

#include "engine/checked.h"
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/conv.h"

namespace heed::ops {
using namespace ir;

namespace {

std::pair<int64_t, int64_t> pair_of(const InferContext& c, const char* key) {
  const auto& v = c.node().attr_ints(key);
  if (v.size() != 1 && v.size() != 2) c.fail(fmt::format("attribute '{}' must have 1 or 2 values", key));
  return hw_pair(v);
}

Dim transposed_out(const InferContext& c, const Dim& in, int64_t k, int64_t s, int64_t p, int64_t d, int64_t op) {
  if (!in.is_known()) return Dim{};
  __int128 out = (__int128(in.value) - 1) * s - 2 * __int128(p) + __int128(d) * (k - 1) + op + 1;
  if (out < 1) c.fail(fmt::format("the output of an input of {} would be empty ({})", in.value, int64_t(out)));
  if (out > kMaxTensorBytes) c.fail("the output size overflows");
  return Dim::known(int64_t(out));
}

void infer_conv_transpose(InferContext& c) {
  c.expect_dtype(0, {DType::f32});
  c.expect_dtype(1, {DType::f32});
  const SymShape &x = c.in(0).shape, &w = c.in(1).shape;
  if (x.size() != 4) c.fail("input " + shape_str(x) + " must be [N, C, H, W]");
  if (w.size() != 4 || !w[2].is_known() || !w[3].is_known() || !w[1].is_known())
    c.fail("weight " + shape_str(w) + " must be [in, out / groups, kh, kw], its sizes known");
  const int64_t groups = c.node().attr_int("groups");
  if (groups < 1) c.fail(fmt::format("groups {} must be >= 1", groups));
  c.unify(x[1], w[0], "input channels and the weight's first dim");
  if (w[0].is_known() && w[0].value % groups) c.fail(fmt::format("in channels {} not divisible by {} groups", w[0].value, groups));
  const Dim out_channels = Dim::known(w[1].value * groups);
  if (c.has_input(2)) {
    c.expect_dtype(2, {DType::f32});
    if (c.in(2).rank() != 1) c.fail("bias must be [out]");
    c.unify(c.in(2).shape[0], out_channels, "bias and out channels");
  }
  auto [sh, sw] = pair_of(c, "stride");
  auto [ph, pw] = pair_of(c, "padding");
  auto [oh, ow] = pair_of(c, "output_padding");
  auto [dh, dw] = pair_of(c, "dilation");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1) c.fail("stride and dilation must be >= 1");
  // output_padding below 0 crops the end further (ONNX's pads with more at the end).
  if (ph < 0 || pw < 0 || sh > kMaxTensorBytes || sw > kMaxTensorBytes || dh > kMaxTensorBytes ||
      dw > kMaxTensorBytes || ph > kMaxTensorBytes || pw > kMaxTensorBytes || oh >= std::max(sh, dh) ||
      ow >= std::max(sw, dw) || oh < -kMaxTensorBytes || ow < -kMaxTensorBytes)
    c.fail("padding must be >= 0 and output_padding below the stride or the dilation");
  c.out(0) = {DType::f32,
              {x[0], out_channels, transposed_out(c, x[2], w[2].value, sh, ph, dh, oh),
               transposed_out(c, x[3], w[3].value, sw, pw, dw, ow)}};
}

}  // namespace

void register_conv_transpose() {
  register_op(OpDef{.name = "ConvTranspose2d",
                    .min_inputs = 2, .max_inputs = 3,
                    .attrs = {{"stride", AttrType::Ints, std::vector<int64_t>{1}},
                              {"padding", AttrType::Ints, std::vector<int64_t>{0}},
                              {"output_padding", AttrType::Ints, std::vector<int64_t>{0}},
                              {"dilation", AttrType::Ints, std::vector<int64_t>{1}},
                              {"groups", AttrType::Int, int64_t(1)}},
                    .infer = infer_conv_transpose});
}

}  // namespace heed::ops
