// Transpose: a strided copy reading the input through permuted strides.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

void register_transpose_kernels() {
  register_kernel("Transpose", [](const KernelInit& init) {
    std::vector<int64_t> perm = init.node.attr_ints("perm");
    return kernel([perm](const NodeShapes& s) {
      const Shape& x = s.in[0].shape;
      Shape in_strides = strides_of(x), src_strides = s.out[0].shape;
      for (int i = 0; i < x.rank(); ++i) {
        int64_t p = perm.empty() ? x.rank() - 1 - i : perm[i];
        src_strides[i] = in_strides[int(p < 0 ? p + x.rank() : p)];
      }
      Shape out_shape = s.out[0].shape, dst_strides = strides_of(out_shape);
      size_t elem = dtype_size(s.out[0].dtype);
      return invocation([=](const Buffers& io) {
        strided_copy(io.out(0), dst_strides, io.in(0), src_strides, out_shape, elem);
      });
    });
  });
}

}  // namespace heed::cpu
