// Views (Reshape, Squeeze, Unsqueeze, Flatten: aliased by the planner, copied
// only into a graph output's own buffer) and Transpose on the GPU.
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {

void register_copy_kernels() {
  for (const char* op : {"Reshape", "Squeeze", "Unsqueeze", "Flatten"})
    register_kernel(op, [](const KernelInit&) {
      return kernel([](const NodeShapes& s) {
        const size_t bytes = s.out[0].nbytes();
        return invocation([bytes](const Buffers& io) {
          if (io.out(0) != io.in(0) && bytes)
            check(cudaMemcpyAsync(io.out(0), io.in(0), bytes, cudaMemcpyDeviceToDevice, stream()), "a view's copy");
        });
      });
    });
  register_kernel("Transpose", [](const KernelInit& init) {
    const std::vector<int64_t> perm = init.node.attr_ints("perm");
    const std::string where = init.node.where();
    return kernel([perm, where](const NodeShapes& s) {
      const Shape& in = s.in[0].shape;
      if (in.rank() > kMaxRank) throw Error(fmt::format("{}: rank {} is above the CUDA kernels' {}", where, in.rank(), kMaxRank));
      const Shape strides = strides_of(in);
      StridedIndex index;
      index.rank = in.rank();
      for (int d = 0; d < in.rank(); ++d) {
        index.shape[d] = s.out[0].shape[d];
        const int64_t p = perm.empty() ? in.rank() - 1 - d : perm[size_t(d)];  // empty: reverse the dims
        index.stride_a[d] = strides[int(p < 0 ? p + in.rank() : p)];
      }
      const int elem = int(dtype_size(s.in[0].dtype));
      const int64_t n = s.out[0].shape.numel();
      return invocation([index, elem, n](const Buffers& io) {
        strided_copy(io.in(0), io.out(0), elem, index, n, stream());
        check_launch("transpose");
      });
    });
  });
}

}  // namespace heed::cuda
