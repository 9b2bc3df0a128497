#include <cstring>

#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

void strided_copy(void* dst, const Shape& dst_strides, const void* src, const Shape& src_strides,
                  const Shape& shape, size_t elem) {
  int rank = shape.rank();
  if (shape.numel() == 0) return;
  if (rank == 0) {
    std::memcpy(dst, src, elem);
    return;
  }
  // The innermost dim is copied as one run when it is contiguous on both sides.
  int64_t inner = shape[rank - 1];
  bool contiguous = dst_strides[rank - 1] == 1 && src_strides[rank - 1] == 1;
  int64_t outer = shape.numel() / inner;
  auto* d = static_cast<char*>(dst);
  auto* s = static_cast<const char*>(src);
#pragma omp parallel for if (shape.numel() > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    auto [doff, soff] = row_offsets(o, shape, dst_strides, src_strides);
    if (contiguous) {
      std::memcpy(d + doff * elem, s + soff * elem, size_t(inner) * elem);
      continue;
    }
    for (int64_t j = 0; j < inner; ++j)
      std::memcpy(d + (doff + j * dst_strides[rank - 1]) * elem, s + (soff + j * src_strides[rank - 1]) * elem, elem);
  }
}

}  // namespace heed::cpu
