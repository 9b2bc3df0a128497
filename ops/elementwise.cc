// Element-wise ops: binary with numpy broadcasting, unary activations.
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

void register_elementwise() {
  for (const char* name : {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum"})
    register_op(OpDef{
        .name = name,
        .min_inputs = 2, .max_inputs = 2,
        .infer = [](InferContext& c) {
          // Integer Div and Pow are left out: PyTorch's meanings of them differ by operator.
          bool float_only = c.node().op == "Div" || c.node().op == "Pow";
          if (float_only) c.expect_dtype(0, {DType::f32});
          else c.expect_dtype(0, {DType::f32, DType::i32, DType::i64});
          if (c.in(1).dtype != c.in(0).dtype)
            c.fail("operands have different dtypes: " + c.in(0).str() + " and " + c.in(1).str());
          c.out(0) = {c.in(0).dtype, c.broadcast(c.in(0).shape, c.in(1).shape)};
          if (c.in(0).dtype != DType::f32) broadcast_elements(c, c.node().op);
        }});
  for (const char* name : {"Sqrt", "Exp", "Log", "Tanh", "Sigmoid", "Relu", "Gelu", "Silu", "Neg", "Erf", "Abs"})
    register_op(OpDef{
        .name = name,
        .attrs = std::string(name) == "Gelu"
                     ? std::vector<AttrSpec>{{"approximate", AttrType::String, std::string("none"),
                                              {"none", "tanh"}}}
                     : std::vector<AttrSpec>{},
        .infer = [](InferContext& c) {
          c.expect_dtype(0, {DType::f32});
          c.out(0) = c.in(0);
        }});
}

}  // namespace heed::ops
