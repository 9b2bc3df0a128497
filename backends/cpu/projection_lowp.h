#pragma once
// A constant projection weight in bf16 or int8 (LoadOptions::precision), on
// oneDNN's matmul:
//  bf16  the weight rounded to bf16 once, in the layout oneDNN prefers; a run
//        rounds x to bf16 and multiplies with fp32 accumulation, bias and
//        activation fused into the matmul.
//  int8  the weight quantized per output channel once (w_q = round(w / s_w),
//        s_w = max|w_channel| / 127); a run quantizes each row of x the same way
//        (s_x), multiplies s8 x s8 -> s32, and writes act(acc s_x s_w + bias).
//        CTranslate2's int8 scheme; PyTorch's per-channel dynamic quantization
//        differs in its activations (per tensor, affine u8).
// Non-finite inputs stay visible: a row of x (or a weight channel) holding inf
// or NaN gives NaN outputs, never finite garbage.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <heed/model.h>

#include "backends/cpu/activation_math.h"
#include "backends/cpu/int8_gemm_avx2.h"
#include "engine/stored_weight.h"  // quantize_rows, StoredWeight

namespace heed::cpu {

// Why this CPU cannot run `precision` (bf16, int8) on the projections, or "" when it can.
std::string precision_unavailable(Precision precision);
// Whether oneDNN's int8 GEMMs (and convolutions) are exact here (AVX-512 VNNI):
// else the projections take Int8GemmAvx2 (int8_gemm_avx2.h) and int8
// convolutions run in fp32.
bool int8_gemm_exact();

// The part of a stored weight (engine/stored_weight.h) that a projection reads,
// in its precision: the values lie as the f32 weight does (same strides), and
// `scales` (int8) are its output channels'.
struct StoredPart {
  const void* values = nullptr;
  const float* scales = nullptr;
};

class LowPrecisionWeight {
 public:
  // w[o, i] at w[o * out_stride + i * in_stride] (PyTorch's [out, in]: (k, 1)).
  // `stored`: the weight as a quantized file holds it, packed as it is (its
  // int8 values and scales, or bf16 values) instead of quantizing `w`.
  // Throws heed::Error when this CPU has no fast oneDNN kernel for `precision`.
  LowPrecisionWeight(const float* w, int64_t n, int64_t k, int64_t out_stride, int64_t in_stride, Precision precision,
                     Activation act, const StoredPart* stored = nullptr);
  Precision precision() const { return precision_; }

 private:
  friend class LowPrecisionProjection;
  void pack(const dnnl::memory& from);  // into every layout of layouts_
  void pack_int8(const int8_t* q, int64_t out_stride, int64_t in_stride);  // s8 values, scales_ set
  Precision precision_;
  int64_t n_, k_;
  Activation act_;
  // The weight in each layout oneDNN's kernels want for some number of rows:
  // with AMX, small int8 matrices take AMX (no compensation) from 32 rows and
  // VNNI (with it) below, and a kernel given the other layout is the reference one.
  std::vector<dnnl::memory> layouts_;
  std::vector<float> scales_;  // int8: s_w per output channel
  std::shared_ptr<const Int8GemmAvx2> avx2_;  // int8 where oneDNN's is not exact (layouts_ empty)
};

// bf16 weights only: x given already in bf16 (not rounded by the run), y
// written in bf16 (rounded to nearest even by oneDNN), for a caller that
// passes bf16 from one GEMM to the next (MultiHeadAttention's projections and
// its bf16 attention core) instead of fp32 that each reader rounds again.
struct Bf16Io {
  bool input = false, output = false;
};

class LowPrecisionProjection {
 public:
  LowPrecisionProjection(std::shared_ptr<const LowPrecisionWeight> weight, int64_t m, bool bias, Bf16Io io = {});
  size_t workspace_bytes() const;
  // x [m, k], y [m, n] row-major, fp32 or bf16 as Bf16Io says; `workspace`:
  // workspace_bytes(), 64-byte aligned.
  void run(const void* x, void* y, const float* bias, void* workspace);

 private:
  void run_int8(const float* x, float* y, const float* bias, char* workspace);

  std::shared_ptr<const LowPrecisionWeight> weight_;
  int64_t m_;
  Bf16Io io_;
  dnnl::primitive prim_;
  dnnl::memory x_, y_, bias_, w_, onednn_scratch_;
  dnnl::stream stream_;
  std::vector<dnnl_exec_arg_t> args_;
};

}  // namespace heed::cpu
