// Concat along an axis; Split into pieces along an axis (given sizes, or equal
// pieces, one per output).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

static void infer_concat(InferContext& c) {
  const ValueType& first = c.in(0);
  int axis = c.axis(c.node().attr_int("axis"), first.rank());
  SymShape out = first.shape;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const ValueType& t = c.in(i);
    if (t.dtype != first.dtype || t.rank() != first.rank())
      c.fail("input " + t.str() + " does not match input " + first.str());
    for (int d = 0; d < first.rank(); ++d) {
      if (d != axis) {
        out[d] = c.unify(out[d], t.shape[d], fmt::format("dim {} of the inputs", d));
      } else if (out[d].is_known() && t.shape[d].is_known()) {
        out[d].value += t.shape[d].value;
      } else {
        out[d] = Dim{};
      }
    }
  }
  c.out(0) = {first.dtype, out};
  concat_elements(c, axis);
}

static void infer_split(InferContext& c) {
  const ValueType& x = c.in(0);
  int axis = c.axis(c.node().attr_int("axis"), x.rank());
  const auto& sizes = c.node().attr_ints("sizes");
  size_t n = c.outputs().size();
  const Dim& total = x.shape[axis];
  std::vector<Dim> pieces;
  if (!sizes.empty()) {
    if (sizes.size() != n) c.fail(fmt::format("{} sizes for {} outputs", sizes.size(), n));
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) c.fail(fmt::format("negative split size {}", s));
      sum += s;
      pieces.push_back(Dim::known(s));
    }
    if (total.is_known() && sum != total.value)
      c.fail(fmt::format("sizes [{}] do not add up to dim {} of {}", fmt::join(sizes, ", "), total.value, shape_str(x.shape)));
  } else if (total.is_known()) {
    if (total.value % int64_t(n))
      c.fail(fmt::format("dim {} of size {} does not split into {} equal parts", axis, total.value, n));
    pieces.assign(n, Dim::known(total.value / int64_t(n)));
  } else {
    pieces.assign(n, Dim{});
  }
  for (size_t i = 0; i < n; ++i) {
    SymShape s = x.shape;
    s[axis] = pieces[i];
    c.out(i) = {x.dtype, s};
  }
}

void register_concat_split() {
  register_op(OpDef{.name = "Concat",
                    .min_inputs = 1, .max_inputs = 4096,
                    .attrs = {{"axis", AttrType::Int, std::nullopt}},
                    .infer = infer_concat});
  register_op(OpDef{.name = "Split",
                    .min_outputs = 1, .max_outputs = 4096,
                    .attrs = {{"axis", AttrType::Int, std::nullopt},
                              {"sizes", AttrType::Ints, std::vector<int64_t>{}}},
                    .infer = infer_split});
}

}  // namespace heed::ops
