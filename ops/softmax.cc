// Softmax and LogSoftmax along any axis, with an optional additive mask that
// broadcasts to the input. Rows the mask hides entirely come out as zeros.
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

static void infer_softmax(InferContext& c) {
  c.expect_dtype(0, {DType::f32});
  c.expect_rank_at_least(0, 1);
  c.axis(c.node().attr_int("axis"), c.in(0).rank());
  if (c.has_input(1)) {
    c.expect_dtype(1, {DType::f32});
    SymShape b = c.broadcast(c.in(0).shape, c.in(1).shape);
    if (b.size() != c.in(0).shape.size())
      c.fail("mask " + shape_str(c.in(1).shape) + " has a higher rank than the input " +
             shape_str(c.in(0).shape));
  }
  c.out(0) = c.in(0);
}

void register_softmax() {
  for (const char* name : {"Softmax", "LogSoftmax"})
    register_op(OpDef{.name = name,
                      .min_inputs = 1, .max_inputs = 2,
                      .attrs = {{"axis", AttrType::Int, int64_t(-1)}},
                      .infer = infer_softmax});
}

}  // namespace heed::ops
