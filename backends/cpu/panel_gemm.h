#pragma once
// y[m, n] = x[m, k] . W^T + b for a constant PyTorch-layout weight W [n, k],
// packed once into panels of 16 output columns ([n / 16][k][16]). For the few
// rows of a decode step (m <= 8) against a wide weight (the vocabulary
// projection) this streams W once, where AVX2 oneDNN's gemm:jit repacks it on
// every call: measured at n = 58,101, k = 512, 2 threads, 1.2x-1.5x faster at
// m = 1, 2x-2.4x at m = 4, 1.05x-1.4x at m = 8; from m = 32 oneDNN is faster
// (0.6x), since this kernel peaks near 65 GFLOP/s.
#include <cstdint>
#include <vector>

namespace heed::cpu {

class PanelGemm {
 public:
  static constexpr int64_t kPanel = 16;
  // When the panel kernel is used for a weight [n, k] and m rows.
  static bool worth_packing(int64_t n, int64_t k) { return n >= 4096 && k >= 64; }
  static bool wins_for(int64_t m) { return m >= 1 && m <= 8; }

  PanelGemm() = default;
  PanelGemm(const float* weight, int64_t n, int64_t k);
  bool empty() const { return packed_.empty(); }
  // x [m, k] row-major, bias [n] or nullptr, y [m, n] row-major.
  void run(const float* x, int64_t m, const float* bias, float* y) const;

 private:
  int64_t n_ = 0, k_ = 0;
  std::vector<float> packed_;
};

}  // namespace heed::cpu
