// Gather (numpy take along one axis) and Embedding (PyTorch F.embedding:
// ids first, table [num_embeddings, dim] second). Ids are range-checked at run.
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

static SymShape gather_shape(const SymShape& data, const SymShape& indices, int axis) {
  SymShape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  return out;
}

void register_gather() {
  register_op(OpDef{
      .name = "Gather",
      .min_inputs = 2, .max_inputs = 2,
      .attrs = {{"axis", AttrType::Int, int64_t(0)}},
      .infer = [](InferContext& c) {
        c.expect_rank_at_least(0, 1);
        c.expect_dtype(1, {DType::i32, DType::i64});
        int axis = c.axis(c.node().attr_int("axis"), c.in(0).rank());
        c.out(0) = {c.in(0).dtype, gather_shape(c.in(0).shape, c.in(1).shape, axis)};
        gather_elements(c, axis);
      }});
  register_op(OpDef{
      .name = "Embedding",
      .min_inputs = 2, .max_inputs = 2,
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::i32, DType::i64});
        if (c.in(1).rank() != 2)
          c.fail("table " + shape_str(c.in(1).shape) + " must be [num_embeddings, dim]");
        c.out(0) = {c.in(1).dtype, gather_shape(c.in(1).shape, c.in(0).shape, 0)};
      }});
}

}  // namespace heed::ops
