// Views (Reshape, Squeeze, Unsqueeze, Flatten: aliased by the planner, copied
// only into a graph output's own buffer), Transpose, Slice, Concat and Split on
// the GPU: all one strided-copy kernel.
#include <algorithm>

#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"
#include "ops/slice.h"

namespace heed::cuda {
namespace {

// Copies `shape` elements from src (strides `from`) to dst (strides `to`).
StridedIndex copy_index(const Shape& shape, const Shape& from, const Shape& to) {
  StridedIndex index;
  index.rank = shape.rank();
  for (int d = 0; d < shape.rank(); ++d) {
    index.shape[d] = shape[d];
    index.stride_a[d] = from[d];
    index.stride_b[d] = to[d];
  }
  return index;
}

// Concat (split = false) or Split along `axis`: piece i is the window of the
// whole tensor starting at offsets[i] along the axis.
std::unique_ptr<Invocation> pieces(const NodeShapes& s, int64_t axis_attr, bool split, const std::string& where) {
  const Shape& whole = split ? s.in[0].shape : s.out[0].shape;
  expect_kernel_rank(whole.rank(), where);
  const int axis = int(axis_attr < 0 ? axis_attr + whole.rank() : axis_attr);
  const Shape whole_strides = strides_of(whole);
  const int elem = int(dtype_size(s.out[0].dtype));
  std::vector<StridedIndex> indices;
  std::vector<int64_t> offsets, counts;
  int64_t at = 0;
  for (const TensorDesc& piece : split ? s.out : s.in) {
    if (!piece.present) continue;
    indices.push_back(split ? copy_index(piece.shape, whole_strides, strides_of(piece.shape))
                            : copy_index(piece.shape, strides_of(piece.shape), whole_strides));
    offsets.push_back(at * whole_strides[axis] * elem);
    counts.push_back(piece.shape.numel());
    at += piece.shape[axis];
  }
  return invocation([=](const Buffers& io) {
    for (size_t i = 0; i < indices.size(); ++i) {
      const char* src = static_cast<const char*>(split ? io.in(0) : io.in(i)) + (split ? offsets[i] : 0);
      char* dst = static_cast<char*>(split ? io.out(i) : io.out(0)) + (split ? 0 : offsets[i]);
      strided_copy(src, dst, elem, indices[i], counts[i], stream());
    }
    check_launch(split ? "split" : "concat");
  });
}

}  // namespace

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
      expect_kernel_rank(in.rank(), where);
      const Shape strides = strides_of(in), out_strides = strides_of(s.out[0].shape);
      StridedIndex index;
      index.rank = in.rank();
      for (int d = 0; d < in.rank(); ++d) {
        index.shape[d] = s.out[0].shape[d];
        index.stride_b[d] = out_strides[d];
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
  register_kernel("Slice", [](const KernelInit& init) {
    const auto &axes = init.node.attr_ints("axes"), &steps = init.node.attr_ints("steps");
    const std::string where = init.node.where();
    const ops::SliceBounds bounds(init.node);
    return kernel([=](const NodeShapes& s) {
      const std::vector<int64_t>& starts = bounds.starts(s);
      const std::vector<int64_t>& ends = bounds.ends(s);
      const Shape& in = s.in[0].shape;
      expect_kernel_rank(in.rank(), where);
      Shape from = strides_of(in);
      const int elem = int(dtype_size(s.in[0].dtype));
      int64_t base = 0;
      for (size_t i = 0; i < starts.size(); ++i) {
        const int axis = int(axes.empty() ? int64_t(i) : (axes[i] < 0 ? axes[i] + in.rank() : axes[i]));
        const int64_t step = ops::clamped_step(steps.empty() ? 1 : steps[i], in[axis]);  // as on the CPU
        base += ops::slice_range(in[axis], starts[i], ends[i], step).begin * from[axis];
        from[axis] *= step;
      }
      const StridedIndex index = copy_index(s.out[0].shape, from, strides_of(s.out[0].shape));
      const int64_t n = s.out[0].shape.numel(), offset = base * elem;
      return invocation([=](const Buffers& io) {
        strided_copy(static_cast<const char*>(io.in(0)) + offset, io.out(0), elem, index, n, stream());
        check_launch("slice");
      });
    });
  });
  register_kernel("Concat", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    const std::string where = init.node.where();
    return kernel([=](const NodeShapes& s) { return pieces(s, axis, false, where); });
  });
  register_kernel("Split", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    const std::string where = init.node.where();
    return kernel([=](const NodeShapes& s) { return pieces(s, axis, true, where); });
  });
}

}  // namespace heed::cuda
