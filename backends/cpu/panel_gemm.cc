#include "backends/cpu/panel_gemm.h"

#include <immintrin.h>

#include <algorithm>

namespace heed::cpu {
namespace {

constexpr int64_t P = PanelGemm::kPanel;

// R rows of x against one panel: 2 x R accumulators of 8 floats.
template <int R>
void panel_rows(const float* x, int64_t k, const float* panel, float* y, int64_t ldy, int64_t cols, const float* bias) {
  __m256 acc[R][2];
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m256 w0 = _mm256_loadu_ps(panel + kk * P), w1 = _mm256_loadu_ps(panel + kk * P + 8);
    for (int i = 0; i < R; ++i) {
      const __m256 xi = _mm256_broadcast_ss(x + i * k + kk);
      acc[i][0] = _mm256_fmadd_ps(xi, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xi, w1, acc[i][1]);
    }
  }
  alignas(32) float row[P];
  for (int i = 0; i < R; ++i) {
    _mm256_store_ps(row, acc[i][0]);
    _mm256_store_ps(row + 8, acc[i][1]);
    for (int64_t j = 0; j < cols; ++j) y[i * ldy + j] = row[j] + (bias ? bias[j] : 0.f);
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

void PanelGemm::run(const float* x, int64_t m, const float* bias, float* y) const {
  const int64_t panels = (n_ + P - 1) / P;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    const float* panel = packed_.data() + p * k_ * P;
    const int64_t cols = std::min(P, n_ - p * P);
    const float* b = bias ? bias + p * P : nullptr;
    float* out = y + p * P;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) panel_rows<4>(x + i * k_, k_, panel, out + i * n_, n_, cols, b);
    switch (m - i) {
      case 3: panel_rows<3>(x + i * k_, k_, panel, out + i * n_, n_, cols, b); break;
      case 2: panel_rows<2>(x + i * k_, k_, panel, out + i * n_, n_, cols, b); break;
      case 1: panel_rows<1>(x + i * k_, k_, panel, out + i * n_, n_, cols, b); break;
      default: break;
    }
  }
}

}  // namespace heed::cpu
