#pragma once
// int8 projections where oneDNN's int8 GEMM is not exact: CPUs without AVX-512
// VNNI (AVX2 ones; AVX-512 without VNNI), where it sums pairs of u8 x s8
// products in 16 bits (vpmaddubsw), which saturate for full-range weights,
// silently. This kernel sign-extends weights and inputs to 16 bits and sums
// pairs of products into 32 bits (vpmaddwd): exact, as VNNI is, the same scheme
// and results as projection_lowp.h's (y = act(acc * s_x * s_w + bias)).
//
// The weight is packed once: panels of 16 output channels, each k pair of a
// channel side by side (32 bytes per pair step), so that one sign extension
// serves 8 channels and one broadcast of an input pair serves all 16. Tiles of
// up to 4 rows x 16 channels keep 8 accumulators in registers; panels are
// split across threads.
#include <cstdint>
#include <vector>

#include "backends/cpu/activation_math.h"

namespace heed::cpu {

class Int8GemmAvx2 {
 public:
  // q: the weight's int8 values, w[o, i] at q[o * out_stride + i * in_stride].
  Int8GemmAvx2(const int8_t* q, int64_t n, int64_t k, int64_t out_stride, int64_t in_stride);
  size_t scratch_bytes(int64_t m) const { return size_t(m * pairs_) * sizeof(int32_t); }
  // qx [m, k] (x quantized per row) with row scales sx; sw: the weight's scales
  // per output channel; bias [n] or null; y [m, n]; `scratch`: scratch_bytes(m).
  void run(const int8_t* qx, const float* sx, int64_t m, const float* sw, const float* bias, Activation act, float* y,
           void* scratch) const;

 private:
  int64_t n_, k_, pairs_;
  std::vector<int8_t> packed_;  // [panels][pairs][16 channels][2]
};

}  // namespace heed::cpu
