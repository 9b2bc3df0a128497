// Comparisons, logic and selection, what attention masks are built from:
// Equal, Less, Greater, LessOrEqual, GreaterOrEqual (bool out), And, Or, Xor,
// Not, IsNaN, Where, and Expand (numpy broadcasting to a given shape).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

namespace {

void same_dtypes(InferContext& c, size_t a, size_t b) {
  if (c.in(a).dtype != c.in(b).dtype)
    c.fail("operands have different dtypes: " + c.in(a).str() + " and " + c.in(b).str());
}

void infer_where(InferContext& c) {
  c.expect_dtype(0, {DType::boolean});
  same_dtypes(c, 1, 2);
  c.out(0) = {c.in(1).dtype, c.broadcast(c.broadcast(c.in(0).shape, c.in(1).shape), c.in(2).shape)};
}

void infer_expand(InferContext& c) {
  SymShape to;
  for (int64_t d : c.node().attr_ints("shape")) {
    if (d < 0) c.fail(fmt::format("shape entry {} is negative", d));
    to.push_back(Dim::known(d));
  }
  if (to.size() > size_t(Shape::kMaxRank)) c.fail(fmt::format("rank {} is above {}", to.size(), Shape::kMaxRank));
  c.out(0) = {c.in(0).dtype, c.broadcast(c.in(0).shape, to)};
}

}  // namespace

void register_logical() {
  for (const char* name : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    register_op(OpDef{.name = name, .min_inputs = 2, .max_inputs = 2, .infer = [](InferContext& c) {
                        c.expect_dtype(0, {DType::f32, DType::i32, DType::i64, DType::boolean});
                        same_dtypes(c, 0, 1);
                        c.out(0) = {DType::boolean, c.broadcast(c.in(0).shape, c.in(1).shape)};
                      }});
  for (const char* name : {"And", "Or", "Xor"})
    register_op(OpDef{.name = name, .min_inputs = 2, .max_inputs = 2, .infer = [](InferContext& c) {
                        c.expect_dtype(0, {DType::boolean});
                        c.expect_dtype(1, {DType::boolean});
                        c.out(0) = {DType::boolean, c.broadcast(c.in(0).shape, c.in(1).shape)};
                      }});
  register_op(OpDef{.name = "Not", .infer = [](InferContext& c) {
                      c.expect_dtype(0, {DType::boolean});
                      c.out(0) = c.in(0);
                    }});
  register_op(OpDef{.name = "IsNaN", .infer = [](InferContext& c) {
                      c.expect_dtype(0, {DType::f32});
                      c.out(0) = {DType::boolean, c.in(0).shape};
                    }});
  register_op(OpDef{.name = "Where", .min_inputs = 3, .max_inputs = 3, .infer = infer_where});
  register_op(OpDef{.name = "Expand", .attrs = {{"shape", AttrType::Ints, std::nullopt}}, .infer = infer_expand});
}

}  // namespace heed::ops
