// PanelGemm's AVX2 build: 16-column panels, 6 x 16 tiles (12 accumulators), the
// depth walked in 128-step slices that stay in L1 across the row blocks.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>

#include "backends/cpu/panel_gemm.h"

namespace heed::cpu {
namespace {

constexpr int64_t P = 16, kRows = 6, kDepth = 128;

// acc[R][16] (+)= the R packed rows of x (stride kRows per k) . a panel slice of kc steps.
template <int R>
void micro_kernel(const float* xp, const float* panel, int64_t kc, float* acc, bool first) {
  __m256 c[R][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    c[i][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + i * P);
    c[i][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + i * P + 8);
  }
  for (int64_t kk = 0; kk < kc; ++kk) {
    const __m256 w0 = _mm256_loadu_ps(panel + kk * P), w1 = _mm256_loadu_ps(panel + kk * P + 8);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 xi = _mm256_broadcast_ss(xp + kk * kRows + i);
      c[i][0] = _mm256_fmadd_ps(xi, w0, c[i][0]);
      c[i][1] = _mm256_fmadd_ps(xi, w1, c[i][1]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    _mm256_storeu_ps(acc + i * P, c[i][0]);
    _mm256_storeu_ps(acc + i * P + 8, c[i][1]);
  }
}

void micro(int rows, const float* xp, const float* panel, int64_t kc, float* acc, bool first) {
  switch (rows) {
    case 6: micro_kernel<6>(xp, panel, kc, acc, first); break;
    case 5: micro_kernel<5>(xp, panel, kc, acc, first); break;
    case 4: micro_kernel<4>(xp, panel, kc, acc, first); break;
    case 3: micro_kernel<3>(xp, panel, kc, acc, first); break;
    case 2: micro_kernel<2>(xp, panel, kc, acc, first); break;
    default: micro_kernel<1>(xp, panel, kc, acc, first); break;
  }
}

// y's rows of panel p = acc + bias, then the activation.
void store_panel(const PanelGemm::Call& c, int64_t p, const float* acc) {
  const int64_t cols = std::min(P, c.n - p * P);
  const bool full = cols == P;
  const __m256 b0 = full && c.bias ? _mm256_loadu_ps(c.bias + p * P) : _mm256_setzero_ps();
  const __m256 b1 = full && c.bias ? _mm256_loadu_ps(c.bias + p * P + 8) : _mm256_setzero_ps();
  for (int64_t row = 0; row < c.m; ++row) {
    float* out = c.y + row * c.n + p * P;
    if (full) {  // two vectors a row
      _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(acc + row * P), b0));
      _mm256_storeu_ps(out + 8, _mm256_add_ps(_mm256_loadu_ps(acc + row * P + 8), b1));
    } else {
      for (int64_t j = 0; j < cols; ++j) out[j] = acc[row * P + j] + (c.bias ? c.bias[p * P + j] : 0.f);
    }
    apply_activation(c.act, out, cols);
  }
}

}  // namespace

// x packed in 6-row blocks, and a [blocks x 6, 16] accumulator per thread kept
// across its depth slices.
size_t panel_scratch_avx2(int64_t m, int64_t k) {
  const int64_t blocks = (m + kRows - 1) / kRows;
  return size_t(blocks * kRows * k) + size_t(omp_get_max_threads()) * size_t(blocks * kRows * P);
}

void panel_gemm_avx2(const PanelGemm::Call& c) {
  const int64_t panels = (c.n + P - 1) / P, blocks = (c.m + kRows - 1) / kRows, k = c.k;
  float* xp = c.scratch;  // x by blocks of kRows rows, k-major inside a block
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t i = 0; i < kRows; ++i) {
        const int64_t row = b * kRows + i;
        xp[(b * k + kk) * kRows + i] = row < c.m ? c.x[row * k + kk] : 0.f;
      }
  float* accs = xp + blocks * k * kRows;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    float* acc = accs + size_t(omp_get_thread_num()) * size_t(blocks * kRows * P);
    const float* panel = c.packed + p * k * P;
    for (int64_t k0 = 0; k0 < k; k0 += kDepth) {  // a panel slice stays in L1 across the row blocks
      const int64_t kc = std::min(kDepth, k - k0);
      for (int64_t b = 0; b < blocks; ++b)
        micro(int(std::min(kRows, c.m - b * kRows)), xp + (b * k + k0) * kRows, panel + k0 * P, kc,
              acc + b * kRows * P, k0 == 0);
    }
    store_panel(c, p, acc);
  }
}

}  // namespace heed::cpu
