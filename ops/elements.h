#pragma once
// Shape arithmetic in the shape rules: how the ops that exported models compute
// shapes with (Shape, Gather, Concat, Unsqueeze, Cast, Add, Equal, Where, ...)
// carry the elements of small integer tensors, so that Reshape, Expand, Slice,
// Range and ConstantOfShape know their output shapes before anything runs.
// Symbolic at load ("batch"), exact once a session binds its input shapes.
#include <string>

#include "engine/op_def.h"

namespace heed::ops {

// Output 0 gets input `from`'s elements unchanged (views, integer casts).
void pass_elements(ir::InferContext& c, size_t from = 0);

// Output 0's elements from the inputs' by numpy broadcasting, for the binary
// and ternary ops that shape arithmetic uses (op: the heed op's name).
void broadcast_elements(ir::InferContext& c, const std::string& op);

// Gather and Concat of tracked elements (shapes of the operands known).
void gather_elements(ir::InferContext& c, int axis);
void concat_elements(ir::InferContext& c, int axis);

// A target shape given by input i (Reshape, Expand, ConstantOfShape): its
// elements, or unknown elements as many as its length when it has none.
ir::Elements shape_operand(ir::InferContext& c, size_t i);

}  // namespace heed::ops
