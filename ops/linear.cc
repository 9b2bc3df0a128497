// Linear: y = x W^T + b with PyTorch's weight layout [out, in] (or y = x W + b
// with W [in, out], weight_layout in_out: ONNX's MatMul operand, read where the
// file has it instead of transposed into a copy) and an optional fused
// activation.
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

const std::vector<std::string> kActivations = {"none", "relu",  "gelu",   "gelu_tanh",
                                               "silu", "tanh", "sigmoid"};

void register_linear() {
  register_op(OpDef{
      .name = "Linear",
      .min_inputs = 2, .max_inputs = 3,
      .attrs = {{"activation", AttrType::String, std::string("none"), kActivations},
                {"weight_layout", AttrType::String, std::string("out_in"), {"out_in", "in_out"}}},
      .infer = [](InferContext& c) {
        c.expect_dtype(0, {DType::f32});
        c.expect_dtype(1, {DType::f32});
        c.expect_rank_at_least(0, 1);
        const SymShape& x = c.in(0).shape;
        const SymShape& w = c.in(1).shape;
        const bool in_out = c.node().attr_string("weight_layout") == "in_out";
        if (w.size() != 2)
          c.fail("weight " + shape_str(w) + (in_out ? " must be [in_features, out_features]" : " must be [out_features, in_features]"));
        const Dim &in = w[in_out ? 0 : 1], &out = w[in_out ? 1 : 0];
        c.unify(x.back(), in, "input features " + shape_str(x) + " and weight " + shape_str(w));
        if (c.has_input(2)) {
          c.expect_dtype(2, {DType::f32});
          const SymShape& b = c.in(2).shape;
          if (b.size() != 1) c.fail("bias " + shape_str(b) + " must be [out_features]");
          c.unify(b[0], out, "bias " + shape_str(b) + " and weight " + shape_str(w));
        }
        SymShape y = x;
        y.back() = out;
        c.out(0) = {DType::f32, y};
      },
      .weight_axis = [](const Node& n, size_t input, const std::vector<const Tensor*>&) {
        return input != 1 ? -1 : n.attr_string("weight_layout") == "in_out" ? 1 : 0;
      }});
}

}  // namespace heed::ops
