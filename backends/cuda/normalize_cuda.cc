// Softmax, LogSoftmax and LayerNorm on the GPU.
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {

void register_normalize_kernels() {
  for (const char* op : {"Softmax", "LogSoftmax"})
    register_kernel(op, [log = std::string(op) == "LogSoftmax"](const KernelInit& init) {
      const int64_t axis = init.node.attr_int("axis");
      return kernel([axis, log, where = init.node.where()](const NodeShapes& s) {
        const Rows r = rows_of(s.in[0].shape, axis);
        const bool masked = present(s, 1);
        const StridedIndex add = masked ? broadcast_index(s, where) : StridedIndex{};
        const int64_t n = s.out[0].shape.numel();
        return invocation([r, log, masked, add, n](const Buffers& io) {
          const float* x = io.in_as<float>(0);
          if (masked) {  // y = x + mask, then the softmax in place
            binary<float>(Binary::add, x, io.in_as<float>(1), io.out_as<float>(0), add, n, stream());
            check_launch("adding a softmax mask");
            x = io.out_as<float>(0);
          }
          softmax_f32(x, io.out_as<float>(0), r.outer, r.n, r.inner, log, masked, stream());
          check_launch("softmax");
        });
      });
    });
  register_kernel("LayerNorm", [](const KernelInit& init) {
    const int64_t axis_attr = init.node.attr_int("axis");
    const float epsilon = float(init.node.attr_float("epsilon"));
    return kernel([axis_attr, epsilon](const NodeShapes& s) {
      const Shape& x = s.in[0].shape;
      const int axis = int(axis_attr < 0 ? axis_attr + x.rank() : axis_attr);
      int64_t rows = 1, cols = 1;
      for (int d = 0; d < x.rank(); ++d) (d < axis ? rows : cols) *= x[d];
      return invocation([rows, cols, epsilon](const Buffers& io) {
        layer_norm_f32(io.in_as<float>(0), io.in_as<float>(1), io.in_as<float>(2), io.out_as<float>(0), rows, cols,
                       epsilon, stream());
        check_launch("layer norm");
      });
    });
  });
}

}  // namespace heed::cuda
