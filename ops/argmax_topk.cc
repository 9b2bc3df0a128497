// ArgMax (first index of the maximum, as PyTorch) and TopK (values and i64
// indices of the k largest or smallest along an axis).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_argmax_topk() {
  register_op(OpDef{
      .name = "ArgMax",
      .attrs = {{"axis", AttrType::Int, int64_t(-1)}, {"keepdims", AttrType::Bool, int64_t(0)}},
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::f32});
        c.expect_rank_at_least(0, 1);
        SymShape s = c.in(0).shape;
        int axis = c.axis(c.node().attr_int("axis"), int(s.size()));
        if (s[axis].is_known() && s[axis].value == 0) c.fail("axis is empty: an arg max of no elements is undefined");
        if (c.node().attr_int("keepdims")) s[axis] = Dim::known(1);
        else s.erase(s.begin() + axis);
        c.out(0) = {DType::i64, s};
      }});
  register_op(OpDef{
      .name = "TopK",
      .min_outputs = 2, .max_outputs = 2,
      .attrs = {{"k", AttrType::Int, std::nullopt},
                {"axis", AttrType::Int, int64_t(-1)},
                {"largest", AttrType::Bool, int64_t(1)}},
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::f32});
        c.expect_rank_at_least(0, 1);
        SymShape s = c.in(0).shape;
        int axis = c.axis(c.node().attr_int("axis"), int(s.size()));
        int64_t k = c.node().attr_int("k");
        if (k < 0 || (s[axis].is_known() && k > s[axis].value))
          c.fail(fmt::format("k = {} is out of range for dim {} of {}", k, axis, shape_str(s)));
        s[axis] = Dim::known(k);
        c.out(0) = {DType::f32, s};
        c.out(1) = {DType::i64, s};
      }});
}

}  // namespace heed::ops
