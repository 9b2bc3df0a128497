// Slice: Python-style start:end:step on chosen axes (step != 0). starts and
// ends are attributes, or inputs 1 and 2 when the graph computes them.
#include "ops/slice.h"

#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

namespace {

// starts or ends: the attribute, or input i (computed by the graph: known at
// bind time, maybe not at load); nullopt when not known yet.
std::optional<std::vector<int64_t>> bounds(InferContext& c, size_t i, const char* attr) {
  if (!c.has_input(i)) return c.node().attr_ints(attr);
  const ValueType& t = c.in(i);
  if ((t.dtype != DType::i64 && t.dtype != DType::i32) || t.rank() != 1)
    c.fail(fmt::format("{} input '{}' is {}, expected an integer vector", attr, c.node().inputs[i], t.str()));
  return c.known_ints(i);
}

void infer_slice(InferContext& c) {
  const ir::Node& n = c.node();
  if (c.has_input(1) != c.has_input(2)) c.fail("starts and ends must both be inputs or both be attributes");
  auto starts = bounds(c, 1, "starts"), ends = bounds(c, 2, "ends");
  const auto &axes = n.attr_ints("axes"), &steps = n.attr_ints("steps");
  size_t count = starts ? starts->size() : ends ? ends->size() : axes.size();
  if ((starts && starts->size() != count) || (ends && ends->size() != count) ||
      (!axes.empty() && axes.size() != count) || (!steps.empty() && steps.size() != count))
    c.fail("starts, ends, axes and steps must have the same length");
  SymShape out = c.in(0).shape;
  for (size_t i = 0; i < count; ++i) {
    int axis = c.axis(axes.empty() ? int64_t(i) : axes[i], int(out.size()));
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) c.fail("a step of 0");
    if (out[axis].is_known() && starts && ends)
      out[axis] = Dim::known(slice_range(out[axis].value, (*starts)[i], (*ends)[i], step).count);
    else
      out[axis] = Dim{};
  }
  c.out(0) = {c.in(0).dtype, out};
  // A slice of a shape vector (x.shape[1:]) keeps its elements.
  const Elements* e = c.elements(0);
  if (!e || out.size() != 1 || !out[0].is_known() || !starts || count != 1) return;
  int64_t step = steps.empty() ? 1 : steps[0];
  SliceRange r = slice_range(int64_t(e->size()), (*starts)[0], (*ends)[0], step);
  Elements sliced;
  for (int64_t k = 0; k < r.count; ++k) sliced.push_back((*e)[size_t(r.begin + k * step)]);
  c.set_elements(0, std::move(sliced));
}

}  // namespace

void register_slice() {
  register_op(OpDef{
      .name = "Slice",
      .max_inputs = 3,
      .attrs = {{"starts", AttrType::Ints, std::nullopt, {}, 1},
                {"ends", AttrType::Ints, std::nullopt, {}, 2},
                {"axes", AttrType::Ints, std::vector<int64_t>{}},
                {"steps", AttrType::Ints, std::vector<int64_t>{}}},
      .infer = infer_slice});
}

}  // namespace heed::ops
