// CumSum, Trilu, Tile and Pad on the GPU, as the CPU kernels
// (backends/cpu/scan_and_layout_cpu.cc).
#include <cstring>

#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

template <typename T>
std::unique_ptr<Invocation> cumsum_invocation(const Rows& r, bool exclusive, bool reverse) {
  return invocation([=](const Buffers& io) {
    cumsum<T>(io.in_as<T>(0), io.out_as<T>(0), r.outer, r.n, r.inner, exclusive, reverse, stream());
    check_launch("cumsum");
  });
}

// Tile (pads empty) or Pad (begins = the first half of pads) of s's input 0.
RemapIndex remap_index(const NodeShapes& s, Remap mode, const std::vector<int64_t>& pads, double value,
                       const std::string& where) {
  const Shape &in = s.in[0].shape, &out = s.out[0].shape;
  expect_kernel_rank(out.rank(), where);
  RemapIndex index;
  index.rank = out.rank(), index.mode = mode;
  for (int d = 0; d < out.rank(); ++d) {
    index.out[d] = out[d], index.in[d] = in[d];
    index.begin[d] = pads.empty() ? 0 : pads[size_t(d)];
  }
  dispatch_dtype(s.in[0].dtype, [&](auto zero) {
    const decltype(zero) fill = decltype(zero)(value);  // as the CPU's T(value)
    std::memcpy(&index.fill, &fill, sizeof fill);
  });
  return index;
}

std::unique_ptr<Invocation> remap_invocation(const NodeShapes& s, const RemapIndex& index) {
  const int elem = int(dtype_size(s.in[0].dtype));
  const int64_t n = s.out[0].shape.numel();
  return invocation([=](const Buffers& io) {
    remap(io.in(0), io.out(0), elem, index, n, stream());
    check_launch(index.mode == Remap::tile ? "tile" : "pad");
  });
}

Remap pad_mode(const std::string& mode) {
  return mode == "edge" ? Remap::edge : mode == "reflect" ? Remap::reflect : Remap::constant;
}

}  // namespace

void register_layout_kernels() {
  register_kernel("CumSum", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    const bool exclusive = init.node.attr_int("exclusive"), reverse = init.node.attr_int("reverse");
    return kernel([=, where = init.node.where()](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Rows r = rows_of(s.in[0].shape, axis);
      switch (s.in[0].dtype) {
        case DType::f32: return cumsum_invocation<float>(r, exclusive, reverse);
        case DType::i32: return cumsum_invocation<int32_t>(r, exclusive, reverse);
        case DType::i64: return cumsum_invocation<int64_t>(r, exclusive, reverse);
        default: no_kernel_for(s.in[0].dtype, where);
      }
    });
  });
  register_kernel("Trilu", [](const KernelInit& init) {
    const bool upper = init.node.attr_int("upper");
    const int64_t k = init.node.attr_int("k");
    return kernel([=](const NodeShapes& s) {
      const Shape& x = s.in[0].shape;
      const int64_t rows = x[x.rank() - 2], cols = x[x.rank() - 1], matrices = rows * cols > 0 ? x.numel() / (rows * cols) : 0;
      const int elem = int(dtype_size(s.in[0].dtype));
      return invocation([=](const Buffers& io) {
        trilu(io.in(0), io.out(0), elem, matrices, rows, cols, upper, k, stream());
        check_launch("trilu");
      });
    });
  });
  register_kernel("Tile", [](const KernelInit& init) {
    return kernel([where = init.node.where()](const NodeShapes& s) {
      return remap_invocation(s, remap_index(s, Remap::tile, {}, 0, where));
    });
  });
  register_kernel("Pad", [](const KernelInit& init) {
    const std::vector<int64_t> pads = init.node.attr_ints("pads");
    const Remap mode = pad_mode(init.node.attr_string("mode"));
    const double value = init.node.attr_float("value");
    return kernel([=, where = init.node.where()](const NodeShapes& s) {
      return remap_invocation(s, remap_index(s, mode, pads, value, where));
    });
  });
}

}  // namespace heed::cuda
