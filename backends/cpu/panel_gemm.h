#pragma once
// y[m, n] = x[m, k] . W^T + b for a constant PyTorch-layout weight W [n, k],
// packed once into panels of 16 output columns ([n / 16][k][16]); x is packed
// per call into blocks of 6 rows. A 6 x 16 AVX2 micro-kernel (12 accumulators)
// walks each panel in slices of 128 k-steps that stay in L1 across the row
// blocks. Against a wide weight (the vocabulary projection) at the row counts of
// decoding this beats AVX2 oneDNN's gemm:jit, which repacks the weight on every
// call; where oneDNN packs the weight itself (AVX-512: brgemm), it still streams
// the weight faster at 1 to 4 rows (batch-1 decoding, greedy or beam 4): see
// docs/benchmarks.md (heed_bench_vocab).
#include <cstdint>
#include <vector>

namespace heed::cpu {

class PanelGemm {
 public:
  static constexpr int64_t kPanel = 16, kRowBlock = 6, kDepthBlock = 128;
  // When the panel kernel is used for a weight [n, k] and m rows.
  static bool worth_packing(int64_t n, int64_t k) { return n >= 4096 && k >= 64; }
  // m rows; onednn_packed: oneDNN has its own packed copy of the weight (AVX-512).
  static bool wins_for(int64_t m, bool onednn_packed) { return m >= 1 && m <= (onednn_packed ? 4 : 128); }

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
