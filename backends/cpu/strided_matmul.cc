#include "backends/cpu/strided_matmul.h"

#include "backends/cpu/dnnl_util.h"

namespace heed::cpu {

static dnnl::memory::desc desc_of(const View4& v) {
  dnnl::memory::dims dims(v.dims.begin(), v.dims.end()), strides(v.strides.begin(), v.strides.end());
  // Broadcast batch dims of size 1 need some stride; any value is fine.
  for (int i = 0; i < 2; ++i)
    if (dims[i] == 1 && strides[i] == 0) strides[i] = 1;
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

StridedMatmul::StridedMatmul(const View4& a, const View4& b, const View4& c, float alpha, bool accumulate,
                             bool bias)
    : stream_(cpu_engine()) {
  dnnl::primitive_attr attr = scratchpad_attr();
  dnnl::post_ops ops;
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (accumulate) ops.append_sum(1.f);
  attr.set_post_ops(ops);
  auto ad = desc_of(a), bd = desc_of(b), cd = desc_of(c);
  dnnl::memory::desc bias_md;
  if (bias) bias_md = dnnl::memory::desc({1, 1, 1, c.dims[3]}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abcd);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, bias_md, cd), attr, cpu_engine());
  prim_ = dnnl::matmul(pd);
  a_ = dnnl::memory(ad, cpu_engine(), DNNL_MEMORY_NONE);
  b_ = dnnl::memory(bd, cpu_engine(), DNNL_MEMORY_NONE);
  c_ = dnnl::memory(cd, cpu_engine(), DNNL_MEMORY_NONE);
  args_ = {{DNNL_ARG_SRC, a_.get()}, {DNNL_ARG_WEIGHTS, b_.get()}, {DNNL_ARG_DST, c_.get()}};
  if (bias) {
    bias_ = dnnl::memory(bias_md, cpu_engine(), DNNL_MEMORY_NONE);
    args_.push_back({DNNL_ARG_BIAS, bias_.get()});
  }
  if (pd.scratchpad_desc().get_size()) {
    scratch_ = dnnl::memory(pd.scratchpad_desc(), cpu_engine());
    args_.push_back({DNNL_ARG_SCRATCHPAD, scratch_.get()});
  }
}

void StridedMatmul::run(const float* a, const float* b, float* c, const float* bias) {
  dnnl_memory_set_data_handle_v2(a_.get(), const_cast<float*>(a), nullptr);
  dnnl_memory_set_data_handle_v2(b_.get(), const_cast<float*>(b), nullptr);
  dnnl_memory_set_data_handle_v2(c_.get(), c, nullptr);
  if (bias_) dnnl_memory_set_data_handle_v2(bias_.get(), const_cast<float*>(bias), nullptr);
  execute(prim_, stream_, args_, "oneDNN matmul");
}

}  // namespace heed::cpu
