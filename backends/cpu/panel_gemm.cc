#include "backends/cpu/panel_gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

namespace heed::cpu {
namespace {

constexpr int64_t P = PanelGemm::kPanel, kRows = PanelGemm::kRowBlock, kDepth = PanelGemm::kDepthBlock;

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

}  // namespace

PanelGemm::PanelGemm(const float* weight, int64_t n, int64_t k) : n_(n), k_(k) {
  const int64_t panels = (n + P - 1) / P;
  packed_.assign(size_t(panels * k * P), 0.f);  // the last panel's missing columns stay zero
#pragma omp parallel for
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t c = 0; c < P && p * P + c < n; ++c)
      for (int64_t kk = 0; kk < k; ++kk) packed_[size_t((p * k + kk) * P + c)] = weight[(p * P + c) * k + kk];
}

void PanelGemm::run(const float* x, int64_t m, const float* bias, float* y, std::vector<float>& scratch) const {
  const int64_t panels = (n_ + P - 1) / P, blocks = (m + kRows - 1) / kRows;
  // x packed by blocks of kRows rows, k-major inside a block: one cache line feeds a k step.
  scratch.resize(size_t(blocks * k_ * kRows + size_t(omp_get_max_threads()) * size_t(blocks * kRows * P)));
  float* xp = scratch.data();
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t kk = 0; kk < k_; ++kk)
      for (int64_t i = 0; i < kRows; ++i) {
        const int64_t row = b * kRows + i;
        xp[(b * k_ + kk) * kRows + i] = row < m ? x[row * k_ + kk] : 0.f;
      }
  float* accs = xp + blocks * k_ * kRows;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    float* acc = accs + size_t(omp_get_thread_num()) * size_t(blocks * kRows * P);
    const float* panel = packed_.data() + p * k_ * P;
    for (int64_t k0 = 0; k0 < k_; k0 += kDepth) {  // a panel slice stays in L1 across the row blocks
      const int64_t kc = std::min(kDepth, k_ - k0);
      for (int64_t b = 0; b < blocks; ++b)
        micro(int(std::min(kRows, m - b * kRows)), xp + (b * k_ + k0) * kRows, panel + k0 * P, kc, acc + b * kRows * P, k0 == 0);
    }
    const int64_t cols = std::min(P, n_ - p * P);
    if (cols == P) {  // a full panel: two vectors a row
      const __m256 b0 = bias ? _mm256_loadu_ps(bias + p * P) : _mm256_setzero_ps();
      const __m256 b1 = bias ? _mm256_loadu_ps(bias + p * P + 8) : _mm256_setzero_ps();
      for (int64_t row = 0; row < m; ++row) {
        _mm256_storeu_ps(y + row * n_ + p * P, _mm256_add_ps(_mm256_loadu_ps(acc + row * P), b0));
        _mm256_storeu_ps(y + row * n_ + p * P + 8, _mm256_add_ps(_mm256_loadu_ps(acc + row * P + 8), b1));
      }
      continue;
    }
    for (int64_t row = 0; row < m; ++row)
      for (int64_t j = 0; j < cols; ++j)
        y[row * n_ + p * P + j] = acc[row * P + j] + (bias ? bias[p * P + j] : 0.f);
  }
}

}  // namespace heed::cpu
