// Concat and Split: each piece is a strided copy into (or out of) its slab of
// the big tensor along the axis.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

struct Slab {
  Shape shape;
  int64_t offset;  // elements from the big tensor's start
};

// The pieces' positions inside `big` along `axis`.
std::vector<Slab> slabs(const std::vector<TensorDesc>& pieces, const Shape& big, int axis) {
  Shape st = strides_of(big);
  std::vector<Slab> out;
  int64_t at = 0;
  for (const TensorDesc& p : pieces) {
    out.push_back({p.shape, at * st[axis]});
    at += p.shape[axis];
  }
  return out;
}

int norm_axis(int64_t axis, int rank) { return int(axis < 0 ? axis + rank : axis); }

}  // namespace

void register_concat_split_kernels() {
  register_kernel("Concat", [](const KernelInit& init) {
    int64_t axis = init.node.attr_int("axis");
    return kernel([axis](const NodeShapes& s) {
      const Shape& big = s.out[0].shape;
      auto parts = slabs(s.in, big, norm_axis(axis, big.rank()));
      Shape big_strides = strides_of(big);
      size_t elem = dtype_size(s.out[0].dtype);
      return invocation([=](const Buffers& io) {
        for (size_t i = 0; i < parts.size(); ++i)
          strided_copy(static_cast<char*>(io.out(0)) + parts[i].offset * elem, big_strides, io.in(i),
                       strides_of(parts[i].shape), parts[i].shape, elem);
      });
    });
  });
  register_kernel("Split", [](const KernelInit& init) {
    int64_t axis = init.node.attr_int("axis");
    return kernel([axis](const NodeShapes& s) {
      const Shape& big = s.in[0].shape;
      auto parts = slabs(s.out, big, norm_axis(axis, big.rank()));
      Shape big_strides = strides_of(big);
      size_t elem = dtype_size(s.in[0].dtype);
      return invocation([=](const Buffers& io) {
        for (size_t i = 0; i < parts.size(); ++i)
          strided_copy(io.out(i), strides_of(parts[i].shape),
                       static_cast<const char*>(io.in(0)) + parts[i].offset * elem, big_strides,
                       parts[i].shape, elem);
      });
    });
  });
}

}  // namespace heed::cpu
