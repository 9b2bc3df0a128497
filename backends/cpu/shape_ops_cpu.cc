// Shape, Size, Range, ConstantOfShape, GatherElements. The first four write what the
// plan already knows (dims, and the elements of their scalar inputs); they run
// once per call, on a handful of elements.
#include <algorithm>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

std::unique_ptr<Invocation> gather_elements(const NodeShapes& s, int axis, const std::string& where) {
  const Shape &data = s.in[0].shape, &index = s.in[1].shape;
  Shape data_strides = strides_of(data), index_strides = strides_of(index);
  int64_t dim = data[axis], n = index.numel();
  return dispatch_dtype(s.in[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    return dispatch_dtype(s.in[1].dtype, [&](auto index_zero) {
      using Index = decltype(index_zero);
      return invocation([=](const Buffers& io) {
        const T* x = io.in_as<T>(0);
        const Index* idx = io.in_as<Index>(1);
        T* y = io.out_as<T>(0);
        for (int64_t i = 0; i < n; ++i) {
          int64_t k = int64_t(idx[i]);
          if (k < -dim || k >= dim)
            throw Error(fmt::format("{}: index {} at position {} is out of range [{}, {})", where, k, i, -dim, dim));
          int64_t src = 0, rest = i;
          for (int d = 0; d < index.rank(); ++d) {
            int64_t coord = rest / index_strides[d];
            rest %= index_strides[d];
            src += (d == axis ? (k < 0 ? k + dim : k) : coord) * data_strides[d];
          }
          y[i] = x[src];
        }
      });
    });
  });
}

}  // namespace

void register_shape_ops_kernels() {
  register_kernel("Shape", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      std::vector<int64_t> dims = s.out[0].elements;  // the plan's: the attribute's slice of the input's dims
      return invocation([dims](const Buffers& io) { std::copy(dims.begin(), dims.end(), io.out_as<int64_t>(0)); });
    });
  });
  register_kernel("Size", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const int64_t n = s.in[0].shape.numel();
      return invocation([n](const Buffers& io) { io.out_as<int64_t>(0)[0] = n; });
    });
  });
  register_kernel("Range", [](const KernelInit& init) {
    std::string where = init.node.where();
    return kernel([where](const NodeShapes& s) {
      int64_t start = planned_scalar(s, 0, where), delta = planned_scalar(s, 2, where), n = s.out[0].shape.numel();
      return dispatch_dtype(s.out[0].dtype, [&](auto zero) {
        using T = decltype(zero);
        return invocation([=](const Buffers& io) {
          T* y = io.out_as<T>(0);
          for (int64_t i = 0; i < n; ++i) y[i] = T(start + i * delta);
        });
      });
    });
  });
  register_kernel("ConstantOfShape", [](const KernelInit& init) {
    double value = init.node.attr_float("value");
    return kernel([value](const NodeShapes& s) {
      int64_t n = s.out[0].shape.numel();
      return dispatch_dtype(s.out[0].dtype, [&](auto zero) {
        using T = decltype(zero);
        return invocation([n, v = T(value)](const Buffers& io) { std::fill_n(io.out_as<T>(0), n, v); });
      });
    });
  });
  register_kernel("GatherElements", [](const KernelInit& init) {
    int64_t axis = init.node.attr_int("axis");
    std::string where = init.node.where();
    return kernel([axis, where](const NodeShapes& s) {
      int rank = s.in[0].shape.rank();
      return gather_elements(s, int(axis < 0 ? axis + rank : axis), where);
    });
  });
}

}  // namespace heed::cpu
