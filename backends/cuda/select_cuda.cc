// Cast, ArgMax, TopK and ReduceSum/Mean/Max/Prod on the GPU.
#include <fmt/format.h>
#include <heed/error.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

ScalarType scalar_type(DType t) {
  switch (t) {
    case DType::f32: return ScalarType::f32;
    case DType::f16: return ScalarType::f16;
    case DType::bf16: return ScalarType::bf16;
    case DType::i32: return ScalarType::i32;
    case DType::i64: return ScalarType::i64;
    case DType::u8: return ScalarType::u8;
    case DType::boolean: return ScalarType::boolean;
    case DType::i8: break;
  }
  throw Error(fmt::format("no CUDA kernel takes {} values", dtype_name(t)));
}

// The kept and reduced parts of x's index space for a reduction over `axes`.
std::pair<StridedIndex, StridedIndex> reduction_index(const Shape& x, const std::vector<int64_t>& axes, int64_t* count) {
  std::vector<bool> reduced(size_t(x.rank()), axes.empty());
  for (int64_t a : axes) reduced[size_t(a < 0 ? a + x.rank() : a)] = true;
  const Shape strides = strides_of(x);
  StridedIndex kept, red;
  *count = 1;
  for (int d = 0; d < x.rank(); ++d) {
    StridedIndex& part = reduced[size_t(d)] ? red : kept;
    part.shape[part.rank] = x[d];
    part.stride_a[part.rank++] = strides[d];
    if (reduced[size_t(d)]) *count *= x[d];
  }
  return {kept, red};
}

}  // namespace

void register_select_kernels() {
  register_kernel("Cast", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const ScalarType from = scalar_type(s.in[0].dtype), to = scalar_type(s.out[0].dtype);
      const int64_t n = s.out[0].shape.numel();
      return invocation([=](const Buffers& io) {
        cast(io.in(0), from, io.out(0), to, n, stream());
        check_launch("cast");
      });
    });
  });
  register_kernel("ArgMax", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    return kernel([axis](const NodeShapes& s) {
      const Rows r = rows_of(s.in[0].shape, axis);
      return invocation([r](const Buffers& io) {
        argmax_f32(io.in_as<float>(0), r.outer, r.n, r.inner, io.out_as<int64_t>(0), stream());
        check_launch("argmax");
      });
    });
  });
  register_kernel("TopK", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis"), k = init.node.attr_int("k");
    const bool largest = init.node.attr_int("largest");
    return kernel([=](const NodeShapes& s) {
      const Rows r = rows_of(s.in[0].shape, axis);
      return invocation([=](const Buffers& io) {
        topk_f32(io.in_as<float>(0), r.outer, r.n, r.inner, k, largest, io.out_as<float>(0), io.out_as<int64_t>(1), stream());
        check_launch("topk");
      });
    });
  });
  for (const auto& [name, op] : {std::pair{"ReduceSum", Reduction::sum}, std::pair{"ReduceMean", Reduction::mean},
                                 std::pair{"ReduceMax", Reduction::max}, std::pair{"ReduceProd", Reduction::prod}})
    register_kernel(name, [op = op](const KernelInit& init) {
      const std::vector<int64_t> axes = init.node.attr_ints("axes");
      return kernel([op, axes](const NodeShapes& s) {
        int64_t count = 0;
        auto [kept, reduced] = reduction_index(s.in[0].shape, axes, &count);
        const int64_t outputs = s.out[0].shape.numel();
        return invocation([=](const Buffers& io) {
          reduce_f32(op, io.in_as<float>(0), kept, reduced, count, io.out_as<float>(0), outputs, stream());
          check_launch("reduction");
        });
      });
    });
}

}  // namespace heed::cuda
