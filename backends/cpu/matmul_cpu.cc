// MatMul on oneDNN matmul: batch dims broadcast, transposes expressed as strides
// (no copy of the transposed operand).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

using dnnl::memory;

// Describes a stored row-major operand as its logical [batch..., rows, cols]
// view at rank `rank`, swapping the last two dims when `transposed`.
memory::desc operand_desc(const Shape& stored, int rank, bool transposed) {
  memory::dims dims(rank, 1), strides(rank, stored.numel());
  Shape st = strides_of(stored);
  int pad = rank - stored.rank();
  for (int i = 0; i < stored.rank(); ++i) {
    dims[pad + i] = stored[i];
    strides[pad + i] = st[i];
  }
  if (transposed) {
    std::swap(dims[rank - 1], dims[rank - 2]);
    std::swap(strides[rank - 1], strides[rank - 2]);
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

}  // namespace

void register_matmul_kernels() {
  register_kernel("MatMul", [](const KernelInit& init) {
    bool ta = init.node.attr_int("transpose_a"), tb = init.node.attr_int("transpose_b");
    return kernel([ta, tb](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Shape& y = s.out[0].shape;
      if (y.numel() == 0) return invocation([](const Buffers&) {});
      int rank = y.rank();
      memory::desc a = operand_desc(s.in[0].shape, rank, ta), b = operand_desc(s.in[1].shape, rank, tb);
      memory::desc c = plain_desc(DType::f32, y);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), scratchpad_attr(), cpu_engine());
      auto inv = dnnl_invocation<dnnl::matmul>(pd);
      inv->bind_input(DNNL_ARG_SRC, a, 0);
      inv->bind_input(DNNL_ARG_WEIGHTS, b, 1);
      inv->bind_output(DNNL_ARG_DST, c, 0);
      return inv;
    });
  });
}

}  // namespace heed::cpu
