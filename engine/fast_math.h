#pragma once
// A branch-free expf that GCC vectorizes inside `omp simd` loops (glibc's vector
// expf is only declared under -ffast-math, which would also break the -inf
// masking the attention kernels rely on). Relative error below 1e-7 for
// arguments above -87; below that (and for -inf) it returns exactly 0, and NaN
// for NaN (so a NaN score spreads through a softmax, as in PyTorch).
#include <immintrin.h>

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
// NaN). AVX2 intrinsics (heed's baseline, so valid in AVX-512 builds too): the
// portable loop that tracked NaN in the same compare stayed scalar under GCC,
// and was a fifth of an int8 batch-32 translation (block maxima of the logits).
inline float max_of(const float* p, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  __m256 unordered = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(p + j);
    m = _mm256_max_ps(m, v);  // a NaN lane is dropped here; `unordered` remembers it
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float r = _mm_cvtss_f32(h);
  bool nan = _mm256_movemask_ps(unordered) != 0;
  for (; j < n; ++j) {
    r = p[j] > r ? p[j] : r;
    nan |= p[j] != p[j];
  }
  return nan ? NAN : r;
}

}  // namespace heed
