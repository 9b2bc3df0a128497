#include "backends/cpu/panel_gemm.h"

#include <algorithm>

namespace heed::cpu {

PanelGemm::PanelGemm(const float* weight, int64_t n, int64_t k, CpuIsa isa, Activation act, int64_t out_stride,
                     int64_t in_stride)
    : n_(n), k_(k), isa_(isa), act_(act) {
  if (out_stride == 0) out_stride = k;
  const int64_t P = panel_width(isa), panels = (n + P - 1) / P;
  packed_ = Tensor::zeros(DType::f32, {panels * k * P});  // the last panel's missing columns stay zero
  float* packed = packed_.data_as<float>();
  // Read along whichever index is contiguous in the weight.
#pragma omp parallel for
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t cols = std::min(P, n - p * P);
    for (int64_t a = 0; a < (in_stride == 1 ? cols : k); ++a)
      for (int64_t b = 0; b < (in_stride == 1 ? k : cols); ++b) {
        const int64_t c = in_stride == 1 ? a : b, kk = in_stride == 1 ? b : a;
        packed[(p * k + kk) * P + c] = weight[(p * P + c) * out_stride + kk * in_stride];
      }
  }
}

size_t PanelGemm::scratch_floats(CpuIsa isa, int64_t m, int64_t k) {
  return isa == CpuIsa::avx512 ? panel_scratch_avx512(m, k) : panel_scratch_avx2(m, k);
}

void PanelGemm::run(const float* x, int64_t m, const float* bias, float* y, float* scratch) const {
  if (m <= 0) return;
  const Call c{packed_.data_as<float>(), n_, k_, x, m, bias, y, act_, scratch};
  if (isa_ == CpuIsa::avx512) panel_gemm_avx512(c);
  else panel_gemm_avx2(c);
}

}  // namespace heed::cpu
