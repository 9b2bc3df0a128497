// ScaledDotProductAttention, PyTorch's F.scaled_dot_product_attention over
// head-split tensors: q [B, H, T, D], k [B, H, S, D] ([B, H, D, S] with
// k_transposed), v [B, H, S, Dv], an additive f32 mask broadcast to
// [B, H, T, S]?  ->  softmax(q k^T * scale + mask) v [B, H, T, Dv], and the
// weights [B, H, T, S]? A query whose every key is masked gets zeros. What the
// ONNX importer fuses an exported attention's MatMul, Softmax, MatMul into.
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/attention.h"

namespace heed::ops {
using namespace ir;

namespace {

void expect_rank4(InferContext& c, size_t i, const char* what) {
  c.expect_dtype(i, {DType::f32});
  if (c.in(i).rank() != 4) c.fail(fmt::format("{} {} must be [batch, heads, length, dim]", what, c.in(i).str()));
}

void infer_sdpa(InferContext& c) {
  expect_rank4(c, 0, "query");
  expect_rank4(c, 1, "key");
  expect_rank4(c, 2, "value");
  const SymShape &q = c.in(0).shape, &k = c.in(1).shape, &v = c.in(2).shape;
  const bool kt = c.node().attr_int("k_transposed");
  const Dim s = kt ? k[3] : k[2], kd = kt ? k[2] : k[3];
  for (int d = 0; d < 2; ++d) {
    c.unify(q[d], k[d], "query and key batch/heads");
    c.unify(q[d], v[d], "query and value batch/heads");
  }
  c.unify(q[3], kd, "query and key dims");
  c.unify(s, v[2], "key and value lengths");
  if (c.has_input(3)) expect_broadcast_mask(c, 3, {q[0], q[1], q[2], s}, false);
  c.out(0) = {DType::f32, {q[0], q[1], q[2], v[3]}};
  if (c.outputs().size() > 1) c.out(1) = {DType::f32, {q[0], q[1], q[2], s}};
}

}  // namespace

void register_sdpa() {
  register_op(OpDef{.name = "ScaledDotProductAttention",
                    .min_inputs = 3, .max_inputs = 4,
                    .min_outputs = 1, .max_outputs = 2,
                    .attrs = {{"scale", AttrType::Float, -1.0}, {"k_transposed", AttrType::Bool, int64_t(0)}},
                    .infer = infer_sdpa});
}

}  // namespace heed::ops
