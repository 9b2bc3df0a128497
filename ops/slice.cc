// Slice: Python-style start:end:step on chosen axes (step > 0).
#include "ops/slice.h"

#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_slice() {
  register_op(OpDef{
      .name = "Slice",
      .attrs = {{"starts", AttrType::Ints, std::nullopt},
                {"ends", AttrType::Ints, std::nullopt},
                {"axes", AttrType::Ints, std::vector<int64_t>{}},
                {"steps", AttrType::Ints, std::vector<int64_t>{}}},
      .infer = [](InferContext& c) {
        const ir::Node& n = c.node();
        const auto &starts = n.attr_ints("starts"), &ends = n.attr_ints("ends"),
                   &axes = n.attr_ints("axes"), &steps = n.attr_ints("steps");
        if (ends.size() != starts.size() || (!axes.empty() && axes.size() != starts.size()) ||
            (!steps.empty() && steps.size() != starts.size()))
          c.fail("starts, ends, axes and steps must have the same length");
        SymShape out = c.in(0).shape;
        for (size_t i = 0; i < starts.size(); ++i) {
          int axis = c.axis(axes.empty() ? int64_t(i) : axes[i], int(out.size()));
          int64_t step = steps.empty() ? 1 : steps[i];
          if (step <= 0) c.fail(fmt::format("step {} must be positive", step));
          if (out[axis].is_known())
            out[axis] = Dim::known(slice_range(out[axis].value, starts[i], ends[i], step).count);
          else
            out[axis] = Dim{};
        }
        c.out(0) = {c.in(0).dtype, out};
      }});
}

}  // namespace heed::ops
