#pragma once
// A branch-free expf that GCC vectorizes inside `omp simd` loops (glibc's vector
// expf is only declared under -ffast-math, which would also break the -inf
// masking the attention kernels rely on). Relative error below 1e-7 for
// arguments above -87; below that (and for -inf) it returns exactly 0, and NaN
// for NaN (so a NaN score spreads through a softmax, as in PyTorch).
#include <bit>
#include <cmath>
#include <cstdint>

namespace heed {

inline float exp_approx(float x) {
  float c = x < -87.0f ? -87.0f : x;
  c = c > 88.37f ? 88.37f : c;
  c = c == c ? c : 0.0f;  // NaN: computed on 0 (no float-to-int of NaN below), replaced at the end
  // Round to nearest by adding and removing 1.5 * 2^23 (vectorizes; roundf does not).
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = c - n * 0.693359375f + n * 2.12194440e-4f;  // c - n ln2, ln2 split in two
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scaled = std::bit_cast<float>(std::bit_cast<int32_t>(p) + (int32_t(n) << 23));
  return x < -87.0f ? 0.0f : x == x ? scaled : x;
}

// The largest of p[0, n), -inf for n = 0 or all -inf, NaN if any is NaN. Not an
// `omp simd reduction(max)`: OpenMP starts those lanes at -FLT_MAX, which clang
// does (a row of -inf, a fully masked attention row, came out -FLT_MAX and then
// NaN); these lanes start at -inf and vectorize under either compiler.
inline float max_of(const float* p, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  for (int i = 0; i < kLanes; ++i) lanes[i] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int i = 0; i < kLanes; ++i) lanes[i] = p[j + i] > lanes[i] || p[j + i] != p[j + i] ? p[j + i] : lanes[i];
  float m = -INFINITY;
  for (; j < n; ++j) m = p[j] > m || p[j] != p[j] ? p[j] : m;
  for (int i = 0; i < kLanes; ++i) m = lanes[i] > m || lanes[i] != lanes[i] ? lanes[i] : m;
  return m;
}

}  // namespace heed
