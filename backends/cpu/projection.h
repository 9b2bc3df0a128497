#pragma once
// y [m, n] = act(x [m, k] . W^T + bias) for a constant PyTorch-layout weight W
// [n, k]: every Linear with a constant weight, and attention's projections.
// Which kernel, decided once at load:
//  - AVX-512 (engine/cpu_isa.h): one packed copy of the weight serves every row
//    count, either heed's panel kernel (panel_gemm.h) or oneDNN's matmul on
//    the blocked layout it prefers (avx512_projection_kernel()).
//  - AVX2: oneDNN matmul, on a copy in the blocked layout oneDNN prefers when it
//    prefers one, else on the weight where it is (AVX2's gemm:jit runs 3x
//    faster on PyTorch's [out, in] layout than on a row-major copy); a wide
//    weight (the vocabulary projection) also gets AVX2 panels for the row counts
//    of decoding (PanelGemm::avx2_wins_for).
// A ProjectionWeight is immutable and shared by every session; a Projection is
// one invocation's kernel for m rows. run() does not allocate: the panel
// kernel's scratch is the caller's workspace.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "backends/cpu/activation_math.h"
#include "backends/cpu/panel_gemm.h"
#include "backends/cpu/projection_lowp.h"
#include "engine/backend.h"

namespace heed::cpu {

// The AVX-512 kernel of constant Linear weights. Measured with both on each
// machine kind (docs/benchmarks.md): on AMD Zen 4/5 heed's panels were level
// with oneDNN's packed weight at 1, 4 and 128 rows, 1.2x at 32 and 8-9% behind
// at encoder sizes; on an Intel Sapphire Rapids oneDNN's is 1.04-1.34x faster
// on BERT, ViT and GPT-2 passes (level when decoding, bound by memory). So:
// oneDNN on Intel, panels elsewhere (AMD's whole models not yet compared). HEED_PROJECTION=panels|onednn|auto overrides it (anything else is
// a load error), to compare the two or test both on one machine.
enum class ProjectionKernel { panels, onednn };
ProjectionKernel avx512_projection_kernel();

// oneDNN's matmul for y = act(x . W + bias): x [m, k] and y [m, n] row-major,
// `weights` {k, n} as described (PyTorch's [out, in] is tag ba).
dnnl::matmul::primitive_desc linear_matmul_desc(int64_t m, int64_t k, int64_t n, const dnnl::memory::desc& weights,
                                                bool bias, Activation act);

// How a weight lies: PyTorch's [out, in], or row-major [in, out] (ONNX's MatMul
// operand, packed from where the file has it).
enum class WeightLayout { out_in, in_out };

// Node input `input`'s stored form (KernelInit::stored) from output channel
// `first` on, as a projection in `layout` reads it: when the file stores it in
// the precision the kernel runs, with its channels where `layout` has them.
std::optional<StoredPart> stored_part(const KernelInit& init, size_t input, WeightLayout layout, int64_t first = 0);

class ProjectionWeight {
 public:
  // `w` stays valid as long as `keep_alive` (nullptr: as long as the model).
  // `precision` bf16 or int8: a LowPrecisionWeight (projection_lowp.h) serves every m.
  // `stored`: in `precision`, the weight as a quantized file holds it (stored_part()).
  ProjectionWeight(const float* w, int64_t n, int64_t k, Activation act = Activation::none,
                   std::shared_ptr<const void> keep_alive = nullptr, WeightLayout layout = WeightLayout::out_in,
                   Precision precision = Precision::f32, std::optional<StoredPart> stored = std::nullopt);
  Precision precision() const { return lowp_ ? lowp_->precision() : Precision::f32; }
  // Whether heed's panel kernel serves m rows (else oneDNN).
  bool panels_for(int64_t m) const;
  // Whether a run reads `w` (oneDNN on it where it is), else only copies of its own.
  bool reads_source() const { return plain_ && !own_plain_.data(); }

 private:
  friend class Projection;
  int64_t n_, k_;
  Activation act_;
  const float* plain_;
  std::shared_ptr<const void> keep_alive_;
  std::shared_ptr<const PanelGemm> panels_;  // AVX-512: serves every m, no oneDNN path
  std::shared_ptr<const LowPrecisionWeight> lowp_;  // bf16 or int8: serves every m
  dnnl::memory::desc md_;     // oneDNN's: the packed layout, or PyTorch's (plain_)
  dnnl::memory packed_;       // empty when plain
  Tensor own_plain_;          // an [in, out] weight transposed, when oneDNN reads it plain
};

class Projection {
 public:
  Projection() = default;
  // `io`: bf16 inputs or outputs (Bf16Io), for a weight of precision bf16 only.
  Projection(std::shared_ptr<const ProjectionWeight> weight, int64_t m, bool bias, Bf16Io io = {});
  bool valid() const { return bool(weight_); }
  size_t workspace_bytes() const;
  // `workspace`: workspace_bytes(), 64-byte aligned.
  void run(const float* x, float* y, const float* bias, void* workspace);
  // The same where Bf16Io made x or y bf16.
  void run_bf16_io(const void* x, void* y, const float* bias, void* workspace);

 private:
  std::shared_ptr<const ProjectionWeight> weight_;
  int64_t m_ = 0;
  std::shared_ptr<LowPrecisionProjection> lowp_;  // the weight's bf16 or int8 kernel
  dnnl::primitive prim_;  // oneDNN's, when it serves m rows
  dnnl::memory x_, y_, bias_, w_, onednn_scratch_;
  dnnl::stream stream_;
  std::vector<dnnl_exec_arg_t> args_;
};

}  // namespace heed::cpu
