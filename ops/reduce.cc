// ReduceSum / ReduceMean / ReduceMax / ReduceProd over chosen axes (none given: all axes).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

// Marks the reduced axes; shared by the shape rule and the kernels.
static std::vector<bool> reduced_axes(const InferContext& c, int rank) {
  std::vector<bool> reduced(rank, c.node().attr_ints("axes").empty());
  for (int64_t a : c.node().attr_ints("axes")) {
    int ax = c.axis(a, rank);
    if (reduced[ax]) c.fail(fmt::format("axis {} appears twice", a));
    reduced[ax] = true;
  }
  return reduced;
}

static void infer_reduce(InferContext& c) {
  c.expect_dtype(0, {DType::f32});
  const SymShape& x = c.in(0).shape;
  std::vector<bool> reduced = reduced_axes(c, int(x.size()));
  bool keep = c.node().attr_int("keepdims");
  SymShape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (reduced[i] && x[i].is_known() && x[i].value == 0 && c.node().op == "ReduceMax")
      c.fail(fmt::format("axis {} is empty: a max of no elements is undefined", i));
    if (!reduced[i]) out.push_back(x[i]);
    else if (keep) out.push_back(Dim::known(1));
  }
  c.out(0) = {DType::f32, out};
}

void register_reduce() {
  for (const char* name : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceProd"})
    register_op(OpDef{.name = name,
                      .attrs = {{"axes", AttrType::Ints, std::vector<int64_t>{}},
                                {"keepdims", AttrType::Bool, int64_t(0)}},
                      .infer = infer_reduce});
}

}  // namespace heed::ops
