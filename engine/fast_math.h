#pragma once
// A branch-free expf that GCC vectorizes inside `omp simd` loops (glibc's vector
// expf is only declared under -ffast-math, which would also break the -inf
// masking the attention kernels rely on). Relative error below 1e-7 for
// arguments above -87; below that (and for -inf) it returns exactly 0.
#include <bit>
#include <cstdint>

namespace heed {

inline float exp_approx(float x) {
  float c = x < -87.0f ? -87.0f : x;
  c = c > 88.37f ? 88.37f : c;
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
  return x >= -87.0f ? scaled : 0.0f;
}

}  // namespace heed
