#include "backends/cpu/int8_gemm_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/activation.h"

namespace heed::cpu {
namespace {

constexpr int64_t kPanel = 16, kRows = 4;

// acc[R][16] = the R rows' input pairs (xp, `pairs` per row) . a panel.
template <int R>
void micro_kernel(const int32_t* xp, int64_t pairs, const int8_t* panel, int32_t* acc) {
  __m256i c[R][2];
  for (int i = 0; i < R; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
  for (int64_t j = 0; j < pairs; ++j) {
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + j * 32)));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + j * 32 + 16)));
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m256i x = _mm256_set1_epi32(xp[i * pairs + j]);
      c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(w0, x));
      c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(w1, x));
    }
  }
  for (int i = 0; i < R; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * kPanel), c[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * kPanel + 8), c[i][1]);
  }
}

void tile(int rows, const int32_t* xp, int64_t pairs, const int8_t* panel, int32_t* acc) {
  switch (rows) {
    case 1: return micro_kernel<1>(xp, pairs, panel, acc);
    case 2: return micro_kernel<2>(xp, pairs, panel, acc);
    case 3: return micro_kernel<3>(xp, pairs, panel, acc);
    default: return micro_kernel<4>(xp, pairs, panel, acc);
  }
}

}  // namespace

Int8GemmAvx2::Int8GemmAvx2(const int8_t* q, int64_t n, int64_t k, int64_t out_stride, int64_t in_stride)
    : n_(n), k_(k), pairs_((k + 1) / 2) {
  const int64_t panels = (n + kPanel - 1) / kPanel;
  packed_.assign(size_t(panels * pairs_ * kPanel * 2), 0);  // channels past n and a last odd k stay 0
  for (int64_t o = 0; o < n; ++o) {
    const int64_t p = o / kPanel, c = o % kPanel;
    // Within a pair step: channels 0-7 in its first 16 bytes, 8-15 in the next.
    int8_t* dst = packed_.data() + p * pairs_ * kPanel * 2 + (c / 8) * 16 + (c % 8) * 2;
    for (int64_t i = 0; i < k; ++i) dst[(i / 2) * kPanel * 2 + i % 2] = q[o * out_stride + i * in_stride];
  }
}

void Int8GemmAvx2::run(const int8_t* qx, const float* sx, int64_t m, const float* sw, const float* bias,
                       Activation act, float* y, void* scratch) const {
  // Each row's inputs as 16-bit pairs, one int32 per pair (the broadcast unit).
  auto* xp = static_cast<int32_t*>(scratch);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < pairs_; ++j) {
      const int64_t a = 2 * j, b = 2 * j + 1;
      const uint16_t lo = uint16_t(int16_t(qx[i * k_ + a])), hi = b < k_ ? uint16_t(int16_t(qx[i * k_ + b])) : 0;
      xp[i * pairs_ + j] = int32_t(uint32_t(lo) | (uint32_t(hi) << 16));
    }
  const int64_t panels = (n_ + kPanel - 1) / kPanel;
#pragma omp parallel for if (m * n_ * k_ > (int64_t(1) << 18)) schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    const int8_t* panel = packed_.data() + p * pairs_ * kPanel * 2;
    const int64_t first = p * kPanel, width = std::min(kPanel, n_ - first);
    alignas(32) int32_t acc[kRows * kPanel];
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int rows = int(std::min(kRows, m - i0));
      tile(rows, xp + i0 * pairs_, pairs_, panel, acc);
      for (int i = 0; i < rows; ++i) {  // as projection_lowp.cc's epilogue: acc * (s_x * s_w) + bias
        const float s = sx[i0 + i];
        float* out = y + (i0 + i) * n_ + first;
        for (int64_t c = 0; c < width; ++c)
          out[c] = float(acc[i * kPanel + c]) * (s * sw[first + c]) + (bias ? bias[first + c] : 0.f);
        apply_activation(act, out, long(width));
      }
    }
  }
}

}  // namespace heed::cpu
