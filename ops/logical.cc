// Comparisons, logic and selection, what attention masks are built from:
// Equal, Less, Greater, LessOrEqual, GreaterOrEqual (bool out), And, Or, Xor,
// Not, IsNaN, Where, and Expand (numpy broadcasting to a given shape).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

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
  broadcast_elements(c, "Where");
}

// The target: the `shape` attribute, or input 1 (a shape computed by the graph).
void infer_expand(InferContext& c) {
  Elements target;
  if (c.has_input(1)) target = shape_operand(c, 1);
  else for (int64_t d : c.node().attr_ints("shape")) target.push_back(Element::of(d));
  SymShape to;
  for (const Element& d : target) {
    if (d.known && d.value < 0) c.fail(fmt::format("shape entry {} is negative", d.value));
    to.push_back(d.dim());
  }
  if (to.size() > size_t(Shape::kMaxRank)) c.fail(fmt::format("rank {} is above {}", to.size(), Shape::kMaxRank));
  if (all_known(to)) {
    c.out(0) = {c.in(0).dtype, c.broadcast(c.in(0).shape, to)};
  } else {  // at load: a target dim not yet known is the input's unless that is 1
    const SymShape& x = c.in(0).shape;
    size_t rank = std::max(x.size(), to.size());
    SymShape out(rank);
    for (size_t i = 0; i < rank; ++i) {
      Dim xd = i < rank - x.size() ? Dim::known(1) : x[i - (rank - x.size())];
      Dim td = i < rank - to.size() ? Dim::known(1) : to[i - (rank - to.size())];
      bool x_is_one = xd.is_known() && xd.value == 1;
      out[i] = td.is_known() ? (td.value == 1 ? xd : td) : (x_is_one || !td.sym.empty() ? td : xd);
    }
    c.out(0) = {c.in(0).dtype, out};
  }
  broadcast_elements(c, "Expand");
}

}  // namespace

void register_logical() {
  for (const char* name : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    register_op(OpDef{.name = name, .min_inputs = 2, .max_inputs = 2, .infer = [](InferContext& c) {
                        c.expect_dtype(0, {DType::f32, DType::i32, DType::i64, DType::boolean});
                        same_dtypes(c, 0, 1);
                        c.out(0) = {DType::boolean, c.broadcast(c.in(0).shape, c.in(1).shape)};
                        broadcast_elements(c, c.node().op);
                      }});
  for (const char* name : {"And", "Or", "Xor"})
    register_op(OpDef{.name = name, .min_inputs = 2, .max_inputs = 2, .infer = [](InferContext& c) {
                        c.expect_dtype(0, {DType::boolean});
                        c.expect_dtype(1, {DType::boolean});
                        c.out(0) = {DType::boolean, c.broadcast(c.in(0).shape, c.in(1).shape)};
                        broadcast_elements(c, c.node().op);
                      }});
  register_op(OpDef{.name = "Not", .infer = [](InferContext& c) {
                      c.expect_dtype(0, {DType::boolean});
                      c.out(0) = c.in(0);
                      broadcast_elements(c, "Not");
                    }});
  register_op(OpDef{.name = "IsNaN", .infer = [](InferContext& c) {
                      c.expect_dtype(0, {DType::f32});
                      c.out(0) = {DType::boolean, c.in(0).shape};
                    }});
  register_op(OpDef{.name = "Where", .min_inputs = 3, .max_inputs = 3, .infer = infer_where});
  register_op(OpDef{.name = "Expand",
                    .max_inputs = 2,
                    .attrs = {{"shape", AttrType::Ints, std::nullopt, {}, 1}},
                    .infer = infer_expand});
}

}  // namespace heed::ops
