// Cast to another dtype (float <-> int truncates toward zero, as PyTorch's .to()).
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

void register_cast() {
  register_op(OpDef{.name = "Cast",
                    .attrs = {{"to", AttrType::String, std::nullopt,
                               {"f32", "f16", "bf16", "i32", "i64", "u8", "bool"}}},
                    .infer = [](InferContext& c) {
                      DType to = dtype_from_name(c.node().attr_string("to"));
                      c.out(0) = {to, c.in(0).shape};
                      const Elements* e = c.elements(0);
                      if (!e || (to != DType::i64 && to != DType::i32 && to != DType::boolean)) return;
                      Elements out = *e;
                      if (to == DType::boolean)
                        for (Element& x : out) x = x.known ? Element::of(x.value != 0) : Element{};
                      c.set_elements(0, std::move(out));
                    }});
}

}  // namespace heed::ops
