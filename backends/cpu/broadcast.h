#pragma once
// Numpy-broadcast binary loop, shared by the element-wise ops and the additive
// mask of Softmax.
#include <omp.h>

#include <cstdint>

#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

// Strides (in elements) that read `in` at each index of `out`; 0 where `in` broadcasts.
inline Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape st = strides_of(in), r = out;
  int pad = out.rank() - in.rank();
  for (int i = 0; i < out.rank(); ++i)
    r[i] = (i < pad || in[i - pad] == 1) ? 0 : st[i - pad];
  return r;
}

// out[i] = op(a[i], b[i]) over `out_shape` with broadcasting.
template <typename T, typename Op>
void broadcast_binary(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out,
                      const Shape& out_shape, Op op) {
  int64_t total = out_shape.numel();
  if (total == 0) return;
  if (out_shape.rank() == 0) {
    out[0] = op(a[0], b[0]);
    return;
  }
  Shape sa = broadcast_strides(a_shape, out_shape), sb = broadcast_strides(b_shape, out_shape);
  int rank = out_shape.rank();
  int64_t inner = out_shape[rank - 1], outer = total / inner;
  int64_t ia = sa[rank - 1], ib = sb[rank - 1];
#pragma omp parallel for if (total > 32768) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    auto [oa, ob] = row_offsets(o, out_shape, sa, sb);
    const T* pa = a + oa;
    const T* pb = b + ob;
    T* po = out + o * inner;
    // The three common cases get their own loops so the compiler vectorizes them.
    if (ia == 1 && ib == 1)
      for (int64_t j = 0; j < inner; ++j) po[j] = op(pa[j], pb[j]);
    else if (ia == 1)
      for (int64_t j = 0; j < inner; ++j) po[j] = op(pa[j], pb[0]);
    else if (ib == 1)
      for (int64_t j = 0; j < inner; ++j) po[j] = op(pa[0], pb[j]);
    else
      for (int64_t j = 0; j < inner; ++j) po[j] = op(pa[0], pb[0]);
  }
}

}  // namespace heed::cpu
