#pragma once
// Numpy-broadcast binary loop, shared by the element-wise ops and the additive
// mask of Softmax. Adjacent dims are merged where both operands allow, so that
// [1, 2048, 14, 14] / [1, 1, 14, 14] runs as 2048 rows of 196, not 28,672 rows
// of 14; long rows are split so that both threads work.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

// Below this many output elements the loops run on the calling thread: waking the
// OpenMP team costs more than the work.
constexpr int64_t kParallelElements = 32768;

// Strides (in elements) that read `in` at each index of `out`; 0 where `in` broadcasts.
inline Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape st = strides_of(in), r = out;
  int pad = out.rank() - in.rank();
  for (int i = 0; i < out.rank(); ++i)
    r[i] = (i < pad || in[i - pad] == 1) ? 0 : st[i - pad];
  return r;
}

// out's dims with size-1 dims dropped and neighbours merged where both
// operands' strides continue across them; strides in elements, 0 = broadcast.
struct BroadcastLayout {
  Shape shape, sa, sb;
};

inline BroadcastLayout merged_layout(const Shape& a, const Shape& b, const Shape& out) {
  const Shape sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  int64_t size[Shape::kMaxRank], da[Shape::kMaxRank], db[Shape::kMaxRank];
  int n = 0;  // merged dims, innermost first
  for (int i = out.rank() - 1; i >= 0; --i) {
    if (out[i] == 1) continue;
    if (n > 0 && sa[i] == da[n - 1] * size[n - 1] && sb[i] == db[n - 1] * size[n - 1]) {
      size[n - 1] *= out[i];
      continue;
    }
    size[n] = out[i], da[n] = sa[i], db[n] = sb[i];
    ++n;
  }
  BroadcastLayout l;
  if (n == 0) size[0] = 1, da[0] = db[0] = 0, n = 1;
  for (int k = n - 1; k >= 0; --k) {
    l.shape.push_back(size[k]);
    l.sa.push_back(da[k]);
    l.sb.push_back(db[k]);
  }
  return l;
}

// out[i] = op(a[i], b[i]) over `out_shape` with broadcasting.
template <typename A, typename B, typename O, typename Op>
void broadcast_binary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, O* out,
                      const Shape& out_shape, Op op) {
  const int64_t total = out_shape.numel();
  if (total == 0) return;
  const BroadcastLayout l = merged_layout(a_shape, b_shape, out_shape);
  const int rank = l.shape.rank();
  const int64_t inner = l.shape[rank - 1], outer = total / inner, ia = l.sa[rank - 1], ib = l.sb[rank - 1];
  // Few long rows: cut them so that every thread gets work.
  const int64_t chunk = outer >= 8 ? inner : std::max<int64_t>(4096, (inner + 7) / 8);
  const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for if (total > kParallelElements) schedule(static)
  for (int64_t task = 0; task < outer * chunks; ++task) {
    const int64_t o = task / chunks, begin = (task % chunks) * chunk, end = std::min(inner, begin + chunk);
    auto [oa, ob] = row_offsets(o, l.shape, l.sa, l.sb);
    const A* pa = a + oa;
    const B* pb = b + ob;
    O* po = out + o * inner;
    // The common cases get their own loops so the compiler vectorizes them.
    if (ia == 1 && ib == 1)
      for (int64_t j = begin; j < end; ++j) po[j] = op(pa[j], pb[j]);
    else if (ia == 1)
      for (int64_t j = begin; j < end; ++j) po[j] = op(pa[j], pb[0]);
    else if (ib == 1)
      for (int64_t j = begin; j < end; ++j) po[j] = op(pa[0], pb[j]);
    else
      for (int64_t j = begin; j < end; ++j) po[j] = op(pa[0], pb[0]);
  }
}

// out[i] = op(a[i], b[i], c[i]) with broadcasting (Where): row by row over the
// last dim, each operand's offset found once per row.
template <typename A, typename B, typename C, typename O, typename Op>
void broadcast_ternary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, const C* c,
                       const Shape& c_shape, O* out, const Shape& out_shape, Op op) {
  const int64_t total = out_shape.numel();
  if (total == 0) return;
  const int rank = out_shape.rank();
  const Shape sa = broadcast_strides(a_shape, out_shape), sb = broadcast_strides(b_shape, out_shape),
              sc = broadcast_strides(c_shape, out_shape);
  const int64_t inner = rank ? out_shape[rank - 1] : 1, rows = total / inner;
  const int64_t ia = rank ? sa[rank - 1] : 0, ib = rank ? sb[rank - 1] : 0, ic = rank ? sc[rank - 1] : 0;
#pragma omp parallel for if (total > kParallelElements) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t oa = 0, ob = 0, oc = 0, rest = r;
    for (int d = rank - 2; d >= 0; --d) {
      const int64_t k = rest % out_shape[d];
      rest /= out_shape[d];
      oa += k * sa[d], ob += k * sb[d], oc += k * sc[d];
    }
    O* po = out + r * inner;
    for (int64_t j = 0; j < inner; ++j) po[j] = op(a[oa + j * ia], b[ob + j * ib], c[oc + j * ic]);
  }
}

}  // namespace heed::cpu
