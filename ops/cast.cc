// Cast to another dtype (float <-> int truncates toward zero, as PyTorch's .to()).
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_cast() {
  register_op(OpDef{.name = "Cast",
                    .attrs = {{"to", AttrType::String, std::nullopt,
                               {"f32", "f16", "bf16", "i32", "i64", "u8", "bool"}}},
                    .infer = [](InferContext& c) {
                      c.out(0) = {dtype_from_name(c.node().attr_string("to")), c.in(0).shape};
                    }});
}

}  // namespace heed::ops
