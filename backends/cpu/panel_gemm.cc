#include "backends/cpu/panel_gemm.h"

#include <omp.h>

namespace heed::cpu {

PanelGemm::PanelGemm(const float* weight, int64_t n, int64_t k, CpuIsa isa, Activation act)
    : n_(n), k_(k), isa_(isa), act_(act) {
  const int64_t P = panel_width(isa), panels = (n + P - 1) / P;
  packed_ = Tensor::zeros(DType::f32, {panels * k * P});  // the last panel's missing columns stay zero
  float* packed = packed_.data_as<float>();
#pragma omp parallel for
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t c = 0; c < P && p * P + c < n; ++c)
      for (int64_t kk = 0; kk < k; ++kk) packed[(p * k + kk) * P + c] = weight[(p * P + c) * k + kk];
}

// x packed in blocks of rows: AVX-512, a chunk of them at a time; AVX2, all of
// them (6-row blocks) and a [blocks x 6, 16] accumulator per thread across its
// depth slices.
size_t PanelGemm::scratch_floats(CpuIsa isa, int64_t m, int64_t k) {
  if (isa == CpuIsa::avx512) return panel_scratch_avx512(m, k);
  const int64_t blocks = (m + 5) / 6;
  return size_t(blocks * 6 * k) + size_t(omp_get_max_threads()) * size_t(blocks * 6 * panel_width(isa));
}

void PanelGemm::run(const float* x, int64_t m, const float* bias, float* y, float* scratch) const {
  if (m <= 0) return;
  const Call c{packed_.data_as<float>(), n_, k_, x, m, bias, y, act_, scratch};
  if (isa_ == CpuIsa::avx512) panel_gemm_avx512(c);
  else panel_gemm_avx2(c);
}

}  // namespace heed::cpu
