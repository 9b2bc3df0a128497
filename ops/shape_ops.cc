// The ops exported models compute shapes and masks with: Shape (a tensor's
// dims as an i64 vector), Size (its element count), Range (numpy arange), ConstantOfShape (a filled
// tensor of a computed shape), GatherElements (torch.gather). Their shape
// rules track elements (ops/elements.h), so what depends on them is shaped.
#include <fmt/format.h>

#include <algorithm>

#include "engine/checked.h"
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

namespace {

// ONNX Shape's start/end: negative from the end, clamped to [0, rank].
void infer_shape(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  int64_t rank = int64_t(x.size());
  auto clamp = [rank](int64_t i) { return std::clamp(i < 0 ? i + rank : i, int64_t(0), rank); };
  int64_t start = clamp(c.node().attr_int("start")), end = clamp(c.node().attr_int("end"));
  Elements dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(Element::of(x[size_t(i)]));
  c.out(0) = {DType::i64, {Dim::known(int64_t(dims.size()))}};
  c.set_elements(0, std::move(dims));
}

// ceil((limit - start) / delta) elements, none when that is negative (in 128 bits: no overflow).
void infer_range(InferContext& c) {
  c.expect_dtype(0, {DType::i64, DType::i32});
  for (size_t i = 0; i < 3; ++i) {
    if (c.in(i).dtype != c.in(0).dtype) c.fail("start, limit and delta must have one dtype: " + c.in(i).str());
    if (c.in(i).rank() != 0) c.fail(fmt::format("input {} is {}, expected a scalar", i, c.in(i).str()));
  }
  auto start = c.known_ints(0), limit = c.known_ints(1), delta = c.known_ints(2);
  c.out(0) = {c.in(0).dtype, {Dim{}}};
  if (!start || !limit || !delta) return;
  int64_t s = (*start)[0], l = (*limit)[0], d = (*delta)[0];
  if (d == 0) c.fail("delta is 0");
  const __int128 span = d > 0 ? __int128(l) - s : __int128(s) - l, step = d > 0 ? __int128(d) : -__int128(d);
  const __int128 count = span > 0 ? (span - 1) / step + 1 : 0;  // ceil(span / step), exactly
  if (count > kMaxTensorBytes) c.fail(fmt::format("Range({}, {}, {}) has too many elements", s, l, d));
  const int64_t n = int64_t(count);
  c.out(0).shape = {Dim::known(n)};
  if (n > kMaxTrackedElements) return;
  Elements e;
  for (int64_t i = 0; i < n; ++i) e.push_back(Element::of(s + i * d));
  c.set_elements(0, std::move(e));
}

void infer_constant_of_shape(InferContext& c) {
  DType dtype = dtype_from_name(c.node().attr_string("dtype"));
  SymShape shape;
  for (const Element& d : shape_operand(c, 0)) {
    if (d.known && d.value < 0) c.fail(fmt::format("shape entry {} is negative", d.value));
    shape.push_back(d.dim());
  }
  c.out(0) = {dtype, shape};
  double v = c.node().attr_float("value");
  if (!all_known(shape) || dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16) return;
  int64_t n = 1;
  for (const Dim& d : shape)
    if (d.value > kMaxTrackedElements || (n *= d.value) > kMaxTrackedElements) return;  // data, not a shape
  c.set_elements(0, Elements(size_t(n), Element::of(int64_t(v))));
}

// The element count, as an i64 scalar; known when every dim is.
void infer_size(InferContext& c) {
  c.out(0) = {DType::i64, {}};
  int64_t n = 1;
  for (const Dim& d : c.in(0).shape) {
    if (!d.is_known()) return c.set_elements(0, {Element{}});
    n *= d.value;  // bounded: the input passed its size check
  }
  c.set_elements(0, {Element::of(n)});
}

void infer_gather_elements(InferContext& c) {
  c.expect_dtype(1, {DType::i32, DType::i64});
  if (c.in(0).rank() != c.in(1).rank() || c.in(0).rank() == 0)
    c.fail("data " + c.in(0).str() + " and indices " + c.in(1).str() + " must have one rank, at least 1");
  int axis = c.axis(c.node().attr_int("axis"), c.in(0).rank());
  for (int d = 0; d < c.in(0).rank(); ++d) {
    const Dim &x = c.in(0).shape[d], &i = c.in(1).shape[d];
    if (d != axis && x.is_known() && i.is_known() && i.value > x.value)
      c.fail(fmt::format("indices {} are larger than data {} in dim {}", c.in(1).str(), c.in(0).str(), d));
  }
  c.out(0) = {c.in(0).dtype, c.in(1).shape};
}

}  // namespace

void register_shape_ops() {
  register_op(OpDef{.name = "Shape",
                    .attrs = {{"start", AttrType::Int, int64_t(0)},
                              {"end", AttrType::Int, int64_t(Shape::kMaxRank)}},
                    .infer = infer_shape});
  register_op(OpDef{.name = "Size", .infer = infer_size});
  register_op(OpDef{.name = "Range", .min_inputs = 3, .max_inputs = 3, .infer = infer_range});
  register_op(OpDef{.name = "ConstantOfShape",
                    .attrs = {{"value", AttrType::Float, 0.0},
                              {"dtype", AttrType::String, std::string("f32"), {"f32", "i32", "i64", "bool"}}},
                    .infer = infer_constant_of_shape});
  register_op(OpDef{.name = "GatherElements",
                    .min_inputs = 2, .max_inputs = 2,
                    .attrs = {{"axis", AttrType::Int, int64_t(0)}},
                    .infer = infer_gather_elements});
}

}  // namespace heed::ops
