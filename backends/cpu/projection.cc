#include "backends/cpu/projection.h"

#include "backends/cpu/dnnl_util.h"

namespace heed::cpu {
namespace {

using memory = dnnl::memory;
using tag = memory::format_tag;

dnnl::matmul::primitive_desc projection_desc(int64_t m, int64_t k, int64_t n, const memory::desc& weights, bool bias) {
  memory::desc src({m, k}, memory::data_type::f32, tag::ab), dst({m, n}, memory::data_type::f32, tag::ab);
  memory::desc bias_md = bias ? memory::desc({1, n}, memory::data_type::f32, tag::ab) : memory::desc();
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md, dst), scratchpad_attr(), cpu_engine());
}

// PyTorch's [out, in] weight is the matmul's {K, N} read column-major.
memory::desc plain_weight_md(int64_t k, int64_t n) { return memory::desc({k, n}, memory::data_type::f32, tag::ba); }

}  // namespace

ProjectionWeight::ProjectionWeight(const float* w, int64_t n, int64_t k, std::shared_ptr<const void> keep_alive)
    : n_(n), k_(k), plain_(w), keep_alive_(std::move(keep_alive)), md_(plain_weight_md(k, n)) {
  auto pd = projection_desc(32, k, n, memory::desc({k, n}, memory::data_type::f32, tag::any), false);
  if (pd.weights_desc().data.format_desc.blocking.inner_nblks == 0) return;  // plain: read in place
  md_ = pd.weights_desc();
  packed_ = memory(md_, cpu_engine());
  memory src(plain_weight_md(k, n), cpu_engine(), const_cast<float*>(w));
  dnnl::stream s(cpu_engine());
  dnnl::reorder(src, packed_).execute(s, src, packed_);
  s.wait();
}

Projection::Projection(std::shared_ptr<const ProjectionWeight> weight, int64_t m, bool bias)
    : weight_(std::move(weight)), stream_(cpu_engine()) {
  const ProjectionWeight& w = *weight_;
  auto pd = projection_desc(m, w.k_, w.n_, w.md_, bias);
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
    scratch_ = memory(pd.scratchpad_desc(), cpu_engine());
    args_.push_back({DNNL_ARG_SCRATCHPAD, scratch_.get()});
  }
}

void Projection::run(const float* x, float* y, const float* bias) {
  dnnl_memory_set_data_handle_v2(x_.get(), const_cast<float*>(x), nullptr);
  dnnl_memory_set_data_handle_v2(y_.get(), y, nullptr);
  if (bias_) dnnl_memory_set_data_handle_v2(bias_.get(), const_cast<float*>(bias), nullptr);
  execute(prim_, stream_, args_, "oneDNN matmul (projection)");
}

}  // namespace heed::cpu
