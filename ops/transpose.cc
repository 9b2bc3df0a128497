// Transpose: permute dims (default: reverse them), materialized.
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

void register_transpose() {
  register_op(OpDef{
      .name = "Transpose",
      .attrs = {{"perm", AttrType::Ints, std::vector<int64_t>{}}},
      .infer = [](InferContext& c) {
        const SymShape& x = c.in(0).shape;
        auto perm = c.node().attr_ints("perm");
        if (perm.empty())
          for (int64_t i = int64_t(x.size()) - 1; i >= 0; --i) perm.push_back(i);
        if (perm.size() != x.size())
          c.fail(fmt::format("perm [{}] does not match rank {}", fmt::join(perm, ", "), x.size()));
        std::vector<bool> seen(x.size(), false);
        SymShape out;
        for (int64_t p : perm) {
          int a = c.axis(p, int(x.size()));
          if (seen[a]) c.fail(fmt::format("perm [{}] repeats axis {}", fmt::join(perm, ", "), p));
          seen[a] = true;
          out.push_back(x[a]);
        }
        c.out(0) = {c.in(0).dtype, out};
      }});
}

}  // namespace heed::ops
