// MatMul: batched a @ b with numpy batch broadcasting and optional transposes of
// the last two dims of either operand.
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_matmul() {
  register_op(OpDef{
      .name = "MatMul",
      .min_inputs = 2, .max_inputs = 2,
      .attrs = {{"transpose_a", AttrType::Bool, int64_t(0)},
                {"transpose_b", AttrType::Bool, int64_t(0)}},
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::f32});
        c.expect_dtype(1, {DType::f32});
        c.expect_rank_at_least(0, 2);
        c.expect_rank_at_least(1, 2);
        SymShape a = c.in(0).shape, b = c.in(1).shape;
        if (c.node().attr_int("transpose_a")) std::swap(a[a.size() - 1], a[a.size() - 2]);
        if (c.node().attr_int("transpose_b")) std::swap(b[b.size() - 1], b[b.size() - 2]);
        c.unify(a.back(), b[b.size() - 2],
                "inner dims of " + shape_str(c.in(0).shape) + " and " + shape_str(c.in(1).shape));
        SymShape batch = c.broadcast(SymShape(a.begin(), a.end() - 2), SymShape(b.begin(), b.end() - 2));
        batch.push_back(a[a.size() - 2]);
        batch.push_back(b.back());
        c.out(0) = {DType::f32, batch};
      },
      // A constant matrix on the right (x @ W), or on the left (W @ x) of a computed
      // operand: its output channels are W's columns, or rows (as the CPU's bf16 and
      // int8 kernels take them).
      .weight_axis = [](const Node& n, size_t input, const std::vector<const Tensor*>& c) {
        const bool ta = n.attr_int("transpose_a"), tb = n.attr_int("transpose_b");
        auto matrix = [&](size_t i) { return i < c.size() && c[i] && c[i]->shape().rank() == 2; };
        if (input == 1 && matrix(1) && !ta) return tb ? 0 : 1;
        if (input == 0 && matrix(0) && !(c.size() > 1 && c[1])) return ta ? 1 : 0;
        return -1;
      }});
}

}  // namespace heed::ops
