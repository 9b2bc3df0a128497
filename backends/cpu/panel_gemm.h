#pragma once
// y[m, n] = act(x[m, k] . W^T + b) for a constant PyTorch-layout weight W [n, k],
// packed once into panels of output columns ([n / P][k][P]); x is packed per call
// into blocks of rows, k-major inside a block, so that one broadcast feeds a k
// step. Two builds (engine/cpu_isa.h):
//  - AVX-512: 32-column panels, 12 x 32 tiles (24 accumulators) over the whole
//    depth, the next weights prefetched while a panel's first tile streams it,
//    bias and activation applied as each tile is stored. Against oneDNN 2.6's
//    brgemm on its own packed weight: 1.2x-1.26x at 32 rows on the large
//    weights, about level at 1, 4 and 128 rows, 8-9% behind at encoder sizes;
//    on AVX-512 it serves every constant Linear and attention projection
//    (projection.h).
//  - AVX2: 16-column panels, 6 x 16 tiles, 128-deep slices kept in L1 across the
//    row blocks: faster than AVX2 oneDNN's gemm:jit (which repacks the weight on
//    every call) against a wide weight (the vocabulary projection) at up to 128
//    rows. See docs/benchmarks.md (heed_bench_gemm, heed_bench_vocab).
#include <cstdint>

#include <heed/tensor.h>

#include "backends/cpu/activation_math.h"
#include "engine/cpu_isa.h"

namespace heed::cpu {

class PanelGemm {
 public:
  // The AVX2 build, beside a plain weight, is worth it for a wide weight only.
  static bool worth_packing_avx2(int64_t n, int64_t k) { return n >= 4096 && k >= 64; }
  // Rows for which the AVX2 build beats oneDNN (onednn_packed: oneDNN has its
  // own packed copy of the weight, i.e. an AVX-512 oneDNN under HEED_CPU_ISA=avx2).
  static bool avx2_wins_for(int64_t m, bool onednn_packed) { return m >= 1 && m <= (onednn_packed ? 4 : 128); }

  // weight[o, i] (output o, input i) at weight[o * out_stride + i * in_stride]:
  // PyTorch's [out, in] is (k, 1), a row-major [in, out] (1, n).
  PanelGemm(const float* weight, int64_t n, int64_t k, CpuIsa isa, Activation act = Activation::none,
            int64_t out_stride = 0, int64_t in_stride = 1);
  CpuIsa isa() const { return isa_; }
  // x [m, k] row-major, bias [n] or nullptr, y [m, n] row-major; `scratch`:
  // scratch_floats(m) floats of the caller's.
  void run(const float* x, int64_t m, const float* bias, float* y, float* scratch) const;
  size_t scratch_floats(int64_t m) const { return scratch_floats(isa_, m, k_); }

  // What a build's run needs (panel_kernels_*.cc).
  struct Call {
    const float* packed;
    int64_t n, k;
    const float* x;
    int64_t m;
    const float* bias;
    float* y;
    Activation act;
    float* scratch;
  };
  static int64_t panel_width(CpuIsa isa) { return isa == CpuIsa::avx512 ? 32 : 16; }
  static size_t scratch_floats(CpuIsa isa, int64_t m, int64_t k);

 private:
  int64_t n_ = 0, k_ = 0;
  CpuIsa isa_;
  Activation act_;
  Tensor packed_;  // 64-byte aligned: a panel's k step is whole cache lines
};

void panel_gemm_avx2(const PanelGemm::Call& c);
void panel_gemm_avx512(const PanelGemm::Call& c);
size_t panel_scratch_avx2(int64_t m, int64_t k);  // floats
size_t panel_scratch_avx512(int64_t m, int64_t k);

}  // namespace heed::cpu
