#pragma once
// y[m, n] = x[m, k] . W^T + b for a constant PyTorch-layout weight W [n, k],
// packed once into panels of 16 output columns ([n / 16][k][16]); x is packed
// per call into blocks of 6 rows. A 6 x 16 AVX2 micro-kernel (12 accumulators)
// walks each panel in slices of 128 k-steps that stay in L1 across the row
// blocks. Against a wide weight (the vocabulary projection) at the row counts of
// decoding this beats AVX2 oneDNN's gemm:jit, which repacks the weight on every
// call: see docs/benchmarks.md (heed_bench_vocab).
#include <cstdint>
#include <vector>

namespace heed::cpu {

class PanelGemm {
 public:
  static constexpr int64_t kPanel = 16, kRowBlock = 6, kDepthBlock = 128;
  // When the panel kernel is used for a weight [n, k] and m rows.
  static bool worth_packing(int64_t n, int64_t k) { return n >= 4096 && k >= 64; }
  static bool wins_for(int64_t m) { return m >= 1 && m <= 128; }

  PanelGemm() = default;
  PanelGemm(const float* weight, int64_t n, int64_t k);
  bool empty() const { return packed_.empty(); }
  // x [m, k] row-major, bias [n] or nullptr, y [m, n] row-major; `scratch` is the
  // caller's (per invocation), sized on the first call.
  void run(const float* x, int64_t m, const float* bias, float* y, std::vector<float>& scratch) const;

 private:
  int64_t n_ = 0, k_ = 0;
  std::vector<float> packed_;
};

}  // namespace heed::cpu
