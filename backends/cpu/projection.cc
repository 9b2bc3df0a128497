#include "backends/cpu/projection.h"

#include "backends/cpu/activation.h"
#include "backends/cpu/dnnl_util.h"
#include "engine/kernel_helpers.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <heed/error.h>

namespace heed::cpu {
namespace {

using memory = dnnl::memory;
using tag = memory::format_tag;

// PyTorch's [out, in] weight is the matmul's {K, N} read column-major.
memory::desc plain_weight_md(int64_t k, int64_t n) { return memory::desc({k, n}, memory::data_type::f32, tag::ba); }

}  // namespace

ProjectionKernel avx512_projection_kernel() {
  static const ProjectionKernel kernel = [] {
    const char* env = std::getenv("HEED_PROJECTION");
    const std::string asked = env ? env : "";
    if (asked == "panels") return ProjectionKernel::panels;
    if (asked == "onednn") return ProjectionKernel::onednn;
    if (!asked.empty() && asked != "auto")
      throw Error("HEED_PROJECTION=" + asked + ": expected panels, onednn or auto");
    return __builtin_cpu_is("intel") ? ProjectionKernel::onednn : ProjectionKernel::panels;
  }();
  return kernel;
}

dnnl::matmul::primitive_desc linear_matmul_desc(int64_t m, int64_t k, int64_t n, const memory::desc& weights, bool bias,
                                                Activation act) {
  dnnl::primitive_attr attr = scratchpad_attr();
  if (act != Activation::none) {
    EltwiseSpec e = eltwise_for(act);
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, e.alg, e.alpha, e.beta);
    attr.set_post_ops(ops);
  }
  memory::desc src({m, k}, memory::data_type::f32, tag::ab), dst({m, n}, memory::data_type::f32, tag::ab);
  memory::desc bias_md = bias ? memory::desc({1, n}, memory::data_type::f32, tag::ab) : memory::desc();
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md, dst), attr, cpu_engine());
}

std::optional<StoredPart> stored_part(const KernelInit& init, size_t input, WeightLayout layout, int64_t first) {
  const StoredWeight* s = input < init.stored.size() ? init.stored[input] : nullptr;
  if (!s || s->precision != init.precision) return std::nullopt;
  if (s->precision == Precision::bf16) {
    const int64_t k = layout == WeightLayout::out_in ? s->values.numel() / s->values.shape()[0] : 1;
    return StoredPart{s->values.data_as<uint16_t>() + first * k, nullptr};
  }
  if (s->axis != (layout == WeightLayout::out_in ? 0 : 1)) return std::nullopt;
  const int64_t k = s->axis == 0 ? s->values.numel() / s->values.shape()[0] : 1;
  return StoredPart{s->values.data_as<int8_t>() + first * k, s->scales.data_as<float>() + first};
}

ProjectionWeight::ProjectionWeight(const float* w, int64_t n, int64_t k, Activation act,
                                   std::shared_ptr<const void> keep_alive, WeightLayout layout, Precision precision,
                                   std::optional<StoredPart> stored)
    : n_(n), k_(k), act_(act), plain_(w), keep_alive_(std::move(keep_alive)), md_(plain_weight_md(k, n)) {
  const ProjectionKernel kernel = avx512_projection_kernel();  // a bad HEED_PROJECTION fails on every CPU
  const bool avx512 = cpu_isa() == CpuIsa::avx512, in_out = layout == WeightLayout::in_out;
  const int64_t out_stride = in_out ? 1 : k, in_stride = in_out ? n : 1;
  if (precision != Precision::f32) {
    lowp_ = std::make_shared<const LowPrecisionWeight>(w, n, k, out_stride, in_stride, precision, act,
                                                       stored ? &*stored : nullptr);
    plain_ = nullptr;
    keep_alive_.reset();
    return;
  }
  if (avx512 && kernel == ProjectionKernel::panels) {
    panels_ = std::make_shared<const PanelGemm>(w, n, k, CpuIsa::avx512, act, out_stride, in_stride);
    plain_ = nullptr;
    keep_alive_.reset();
    return;
  }
  if (!avx512 && PanelGemm::worth_packing_avx2(n, k))
    panels_ = std::make_shared<const PanelGemm>(w, n, k, CpuIsa::avx2, act, out_stride, in_stride);
  auto pd = linear_matmul_desc(32, k, n, memory::desc({k, n}, memory::data_type::f32, tag::any), false, act);
  if (pd.weights_desc().data.format_desc.blocking.inner_nblks == 0) {  // plain: read in place
    if (in_out) {  // as PyTorch's layout, which AVX2's gemm:jit reads 3x faster than a row-major one
      own_plain_ = transposed_matrix(w, k, n);
      plain_ = own_plain_.data_as<float>();
      keep_alive_.reset();
    }
    return;
  }
  md_ = pd.weights_desc();
  packed_ = memory(md_, cpu_engine());
  memory src(in_out ? memory::desc({k, n}, memory::data_type::f32, tag::ab) : plain_weight_md(k, n), cpu_engine(),
             const_cast<float*>(w));
  dnnl::stream s(cpu_engine());
  dnnl::reorder(src, packed_).execute(s, src, packed_);
  s.wait();
  plain_ = nullptr;  // runs read the packed copy only
  keep_alive_.reset();
}

bool ProjectionWeight::panels_for(int64_t m) const {
  return panels_ && (panels_->isa() == CpuIsa::avx512 || PanelGemm::avx2_wins_for(m, bool(packed_)));
}

Projection::Projection(std::shared_ptr<const ProjectionWeight> weight, int64_t m, bool bias, Bf16Io io)
    : weight_(std::move(weight)), m_(m) {
  const ProjectionWeight& w = *weight_;
  if (w.lowp_) {
    lowp_ = std::make_shared<LowPrecisionProjection>(w.lowp_, m, bias, io);
    return;
  }
  if (io.input || io.output) throw std::logic_error("Projection: bf16 inputs or outputs need a bf16 weight");
  if (w.panels_for(m)) return;
  stream_ = dnnl::stream(cpu_engine());
  auto pd = linear_matmul_desc(m, w.k_, w.n_, w.md_, bias, w.act_);
  prim_ = dnnl::matmul(pd);
  x_ = memory(pd.src_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  y_ = memory(pd.dst_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  w_ = w.packed_ ? w.packed_ : memory(w.md_, cpu_engine(), const_cast<float*>(w.plain_));
  args_ = {{DNNL_ARG_SRC, x_.get()}, {DNNL_ARG_WEIGHTS, w_.get()}, {DNNL_ARG_DST, y_.get()}};
  if (bias) {
    bias_ = memory(pd.bias_desc(), cpu_engine(), DNNL_MEMORY_NONE);
    args_.push_back({DNNL_ARG_BIAS, bias_.get()});
  }
  if (pd.scratchpad_desc().get_size()) {
    onednn_scratch_ = memory(pd.scratchpad_desc(), cpu_engine());
    args_.push_back({DNNL_ARG_SCRATCHPAD, onednn_scratch_.get()});
  }
}

size_t Projection::workspace_bytes() const {
  if (lowp_) return lowp_->workspace_bytes();
  return prim_ || !weight_ ? 0 : weight_->panels_->scratch_floats(m_) * sizeof(float);
}

void Projection::run_bf16_io(const void* x, void* y, const float* bias, void* workspace) {
  lowp_->run(x, y, bias, workspace);
}

void Projection::run(const float* x, float* y, const float* bias, void* workspace) {
  if (lowp_) return lowp_->run(x, y, bias, workspace);
  if (!prim_) return weight_->panels_->run(x, m_, bias, y, static_cast<float*>(workspace));
  dnnl_memory_set_data_handle_v2(x_.get(), const_cast<float*>(x), nullptr);
  dnnl_memory_set_data_handle_v2(y_.get(), y, nullptr);
  if (bias_) dnnl_memory_set_data_handle_v2(bias_.get(), const_cast<float*>(bias), nullptr);
  execute(prim_, stream_, args_, "oneDNN matmul (projection)");
}

}  // namespace heed::cpu
