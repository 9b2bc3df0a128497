// Comparisons, logic, Not, IsNaN, Where and Expand on the GPU: what exported
// models build their attention masks from. Same dtypes as the CPU kernels.
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

template <typename T>
std::unique_ptr<Invocation> predicate_invocation(Predicate op, const StridedIndex& index, int64_t n) {
  return invocation([=](const Buffers& io) {
    predicate<T>(op, io.in_as<T>(0), io.in_as<T>(1), io.out_as<uint8_t>(0), index, n, stream());
    check_launch("a comparison");
  });
}

void register_predicate(const std::string& name, Predicate op) {
  register_kernel(name, [op](const KernelInit& init) {
    return kernel([op, where = init.node.where()](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const StridedIndex index = broadcast_index(s, where);
      const int64_t n = s.out[0].shape.numel();
      switch (s.in[0].dtype) {
        case DType::f32: return predicate_invocation<float>(op, index, n);
        case DType::i32: return predicate_invocation<int32_t>(op, index, n);
        case DType::i64: return predicate_invocation<int64_t>(op, index, n);
        case DType::u8: case DType::boolean: return predicate_invocation<uint8_t>(op, index, n);
        default: no_kernel_for(s.in[0].dtype, where);
      }
    });
  });
}

// Output element i of `out` reads element i of `in` broadcast (Expand).
StridedIndex expand_index(const Shape& in, const Shape& out, const std::string& where) {
  expect_kernel_rank(out.rank(), where);
  StridedIndex index;
  index.rank = out.rank();
  broadcast_strides(in, out, index.stride_a);
  const Shape contiguous = strides_of(out);
  for (int d = 0; d < out.rank(); ++d) index.shape[d] = out[d], index.stride_b[d] = contiguous[d];
  return index;
}

}  // namespace

void register_logical_kernels() {
  for (const auto& [name, op] : {std::pair{"Equal", Predicate::equal}, std::pair{"Less", Predicate::less},
                                 std::pair{"Greater", Predicate::greater}, std::pair{"LessOrEqual", Predicate::less_equal},
                                 std::pair{"GreaterOrEqual", Predicate::greater_equal}, std::pair{"And", Predicate::logical_and},
                                 std::pair{"Or", Predicate::logical_or}, std::pair{"Xor", Predicate::logical_xor}})
    register_predicate(name, op);
  register_kernel("Not", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      return invocation([n = s.out[0].shape.numel()](const Buffers& io) {
        logical_not(io.in_as<uint8_t>(0), io.out_as<uint8_t>(0), n, stream());
        check_launch("not");
      });
    });
  });
  register_kernel("IsNaN", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      return invocation([n = s.out[0].shape.numel()](const Buffers& io) {
        is_nan(io.in_as<float>(0), io.out_as<uint8_t>(0), n, stream());
        check_launch("isnan");
      });
    });
  });
  register_kernel("Where", [](const KernelInit& init) {
    return kernel([where = init.node.where()](const NodeShapes& s) {
      const Shape& out = s.out[0].shape;
      // a and b are inputs 1 and 2; the condition, input 0, has strides of its own
      const NodeShapes values{{s.in[1], s.in[2]}, s.out};
      const StridedIndex index = broadcast_index(values, where);
      int64_t cond[kMaxRank] = {};
      broadcast_strides(s.in[0].shape, out, cond);
      const int elem = int(dtype_size(s.out[0].dtype));
      return invocation([=](const Buffers& io) {
        heed::cuda::where(io.in_as<uint8_t>(0), cond, io.in(1), io.in(2), io.out(0), elem, index, out.numel(), stream());
        check_launch("where");
      });
    });
  });
  register_kernel("Expand", [](const KernelInit& init) {
    return kernel([where = init.node.where()](const NodeShapes& s) {
      const StridedIndex index = expand_index(s.in[0].shape, s.out[0].shape, where);
      const int elem = int(dtype_size(s.out[0].dtype));
      return invocation([=, n = s.out[0].shape.numel()](const Buffers& io) {
        strided_copy(io.in(0), io.out(0), elem, index, n, stream());
        check_launch("expand");
      });
    });
  });
}

}  // namespace heed::cuda
