// LayerNorm over the dims from `axis` to the end, with optional elementwise
// weight and bias of that trailing shape (PyTorch's normalized_shape).
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_layer_norm() {
  register_op(OpDef{
      .name = "LayerNorm",
      .min_inputs = 1, .max_inputs = 3,
      .attrs = {{"axis", AttrType::Int, int64_t(-1)}, {"epsilon", AttrType::Float, 1e-5}},
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::f32});
        c.expect_rank_at_least(0, 1);
        const SymShape& x = c.in(0).shape;
        int axis = c.axis(c.node().attr_int("axis"), int(x.size()));
        SymShape normalized(x.begin() + axis, x.end());
        for (size_t i = 1; i < 3; ++i) {
          if (!c.has_input(i)) continue;
          c.expect_dtype(i, {DType::f32});
          const SymShape& p = c.in(i).shape;
          if (p.size() != normalized.size())
            c.fail(c.node().inputs[i] + " " + shape_str(p) + " must match the normalized shape " +
                   shape_str(normalized));
          for (size_t d = 0; d < p.size(); ++d)
            c.unify(p[d], normalized[d], c.node().inputs[i] + " " + shape_str(p) +
                                             " and normalized shape " + shape_str(normalized));
        }
        c.out(0) = c.in(0);
      }});
}

}  // namespace heed::ops
