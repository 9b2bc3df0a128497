// Slice: a strided copy starting at the slice's first element, reading with the
// input's strides times the steps.
#include <algorithm>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "ops/slice.h"

namespace heed::cpu {

void register_slice_kernels() {
  register_kernel("Slice", [](const KernelInit& init) {
    const ir::Node& n = init.node;
    auto axes = n.attr_ints("axes"), steps = n.attr_ints("steps");
    ops::SliceBounds bounds(n);
    return kernel([=](const NodeShapes& s) {
      const std::vector<int64_t>& starts = bounds.starts(s);
      const std::vector<int64_t>& ends = bounds.ends(s);
      const Shape& x = s.in[0].shape;
      Shape st = strides_of(x), src_strides = st;
      int64_t offset = 0;
      for (size_t i = 0; i < starts.size(); ++i) {
        int64_t a = axes.empty() ? int64_t(i) : axes[i];
        int axis = int(a < 0 ? a + x.rank() : a);
        int64_t step = ops::clamped_step(steps.empty() ? 1 : steps[i], x[axis]);
        offset += ops::slice_range(x[axis], starts[i], ends[i], step).begin * st[axis];
        src_strides[axis] = st[axis] * step;
      }
      Shape out = s.out[0].shape, dst_strides = strides_of(out);
      size_t elem = dtype_size(s.out[0].dtype);
      return invocation([=](const Buffers& io) {
        strided_copy(io.out(0), dst_strides, static_cast<const char*>(io.in(0)) + offset * elem,
                     src_strides, out, elem);
      });
    });
  });
}

}  // namespace heed::cpu
