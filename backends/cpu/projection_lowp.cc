#include "backends/cpu/projection_lowp.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "backends/cpu/activation.h"
#include "backends/cpu/dnnl_util.h"
#include "engine/cpu_isa.h"
#include "engine/half.h"
#include "engine/kernel_helpers.h"
#include "engine/mapped_file.h"

namespace heed::cpu {
namespace {

using memory = dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

constexpr size_t kAlign = 64;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The matmul of a run: bf16 x bf16 -> f32 (or bf16: `bf16_out`) with bias and
// activation, or s8 x s8 -> s32.
dnnl::matmul::primitive_desc lowp_matmul_desc(Precision p, int64_t m, int64_t k, int64_t n, const memory::desc& weights,
                                              bool bias, Activation act, bool bf16_out = false) {
  dnnl::primitive_attr attr = scratchpad_attr();
  const bool bf16 = p == Precision::bf16;
  if (bf16 && act != Activation::none) {
    EltwiseSpec e = eltwise_for(act);
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, e.alg, e.alpha, e.beta);
    attr.set_post_ops(ops);
  }
  memory::desc src({m, k}, bf16 ? dt::bf16 : dt::s8, tag::ab);
  memory::desc dst({m, n}, !bf16 ? dt::s32 : bf16_out ? dt::bf16 : dt::f32, tag::ab);
  memory::desc bias_md = bf16 && bias ? memory::desc({1, n}, dt::f32, tag::ab) : memory::desc();
  const std::string isa = cpu_isa() == CpuIsa::avx512 ? "AVX-512" : "AVX2";
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md, dst), attr, cpu_engine());
  } catch (const dnnl::error&) {
    throw Error(fmt::format("precision {}: oneDNN has no kernel for it on this CPU ({}); use f32{}", precision_name(p),
                            isa, p == Precision::bf16 ? " or int8" : ""));
  }
  const std::string impl = pd.impl_info_str();
  if (impl.starts_with("ref"))
    throw Error(fmt::format("precision {}: oneDNN has only its reference kernel for it on this CPU ({}, {}); use f32",
                            precision_name(p), isa, impl));
  return pd;
}

// fn(first_row, rows) over the [n, k] rows of `rows` by chunks; where they lie in
// a mapped file (a model's weights), each chunk's pages are dropped once read, so
// that converting a 58,101 x 512 vocabulary projection does not hold its 119 MB of
// fp32 pages resident beside the copy until the model is loaded.
template <typename Fn>
void by_row_chunks(const float* rows, int64_t n, int64_t k, Fn fn) {
  constexpr int64_t kChunkRows = 1024;
  for (int64_t r = 0; r < n; r += kChunkRows) {
    const int64_t count = std::min(kChunkRows, n - r);
    fn(r, count);
    MappedFile::release_file_pages(rows + r * k, size_t(count * k) * sizeof(float));
  }
}

}  // namespace

// VNNI sums u8 x s8 products into 32 bits; without it oneDNN's kernels
// (vpmaddubsw) saturate pairs at 16 bits, silently, for full-range weights.
// oneDNN's own view counts too: ONEDNN_MAX_CPU_ISA may keep it below VNNI.
bool int8_gemm_exact() {
  return cpu_isa() == CpuIsa::avx512 && __builtin_cpu_supports("avx512vnni") &&
         (cpu_engine(), dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_vnni);
}

std::string precision_unavailable(Precision precision) {
  if (precision == Precision::f32 || (precision == Precision::int8 && !int8_gemm_exact())) return "";  // Int8GemmAvx2
  try {
    const dt type = precision == Precision::bf16 ? dt::bf16 : dt::s8;
    lowp_matmul_desc(precision, 1, 64, 64, memory::desc({64, 64}, type, tag::any), false, Activation::none);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

LowPrecisionWeight::LowPrecisionWeight(const float* w, int64_t n, int64_t k, int64_t out_stride, int64_t in_stride,
                                       Precision precision, Activation act, const StoredPart* stored)
    : precision_(precision), n_(n), k_(k), act_(act) {
  const bool bf16 = precision == Precision::bf16;
  for (int64_t m : {1, 32, 256}) {
    if (!bf16 && !int8_gemm_exact()) break;  // heed's own kernel, not oneDNN's
    memory::desc md = lowp_matmul_desc(precision, m, k, n, memory::desc({k, n}, bf16 ? dt::bf16 : dt::s8, tag::any), false,
                                       act).weights_desc();
    if (std::none_of(layouts_.begin(), layouts_.end(), [&](const memory& l) { return l.get_desc() == md; }))
      layouts_.emplace_back(md, cpu_engine());
  }
  const memory::dims strides{in_stride, out_stride};
  if (stored && bf16) {  // packed as the file holds it
    pack(memory(memory::desc({k, n}, dt::bf16, strides), cpu_engine(), const_cast<void*>(stored->values)));
    return;
  }
  if (stored) {
    scales_.assign(stored->scales, stored->scales + n);
    pack_int8(static_cast<const int8_t*>(stored->values), out_stride, in_stride);
    return;
  }
  if (bf16 && in_stride == 1 && out_stride == k) {  // [n, k] rows, rounded as `heed quantize` rounds them
    std::vector<uint16_t> halves(size_t(n * k));
    by_row_chunks(w, n, k, [&](int64_t r, int64_t count) {
      for (int64_t i = r * k; i < (r + count) * k; ++i) halves[size_t(i)] = f32_to_bf16(w[i]);
    });
    pack(memory(memory::desc({k, n}, dt::bf16, strides), cpu_engine(), halves.data()));
    return;
  }
  if (bf16) {  // oneDNN reads the fp32 weight where it lies ({k, n} with its strides) and rounds it
    pack(memory(memory::desc({k, n}, dt::f32, strides), cpu_engine(), const_cast<float*>(w)));
    return;
  }
  // int8: the rows quantized as run() quantizes x (a channel holding inf or NaN
  // gets scale NaN and zeros), from [n, k] rows: where they lie, or a transposed
  // copy of an [in, out] weight (out_stride 1).
  Tensor copy;
  const float* rows = w;
  if (in_stride != 1 || out_stride != k) {
    copy = Tensor::empty(DType::f32, Shape({n, k}));
    transpose_into(w, in_stride, k, n, copy.data_as<float>());
    rows = copy.data_as<float>();
  }
  std::vector<int8_t> s8(size_t(n * k));
  scales_.resize(size_t(n));
  by_row_chunks(rows, n, k, [&](int64_t r, int64_t count) {
    quantize_rows(rows + r * k, count, k, s8.data() + r * k, scales_.data() + r);
  });
  pack_int8(s8.data(), k, 1);
}

void LowPrecisionWeight::pack_int8(const int8_t* q, int64_t out_stride, int64_t in_stride) {
  if (!int8_gemm_exact()) {
    avx2_ = std::make_shared<const Int8GemmAvx2>(q, n_, k_, out_stride, in_stride);
    return;
  }
  pack(memory(memory::desc({k_, n_}, dt::s8, memory::dims{in_stride, out_stride}), cpu_engine(), const_cast<int8_t*>(q)));
}

void LowPrecisionWeight::pack(const memory& from) {
  dnnl::stream s(cpu_engine());
  for (memory& to : layouts_) dnnl::reorder(from, to).execute(s, const_cast<memory&>(from), to);
  s.wait();
}

LowPrecisionProjection::LowPrecisionProjection(std::shared_ptr<const LowPrecisionWeight> weight, int64_t m, bool bias,
                                               Bf16Io io)
    : weight_(std::move(weight)), m_(m), io_(io), stream_(cpu_engine()) {
  const LowPrecisionWeight& w = *weight_;
  if ((io.input || io.output) && w.precision_ != Precision::bf16)
    throw std::logic_error("LowPrecisionProjection: bf16 inputs or outputs need a bf16 weight");
  if (w.avx2_) return;  // no oneDNN primitive
  dnnl::matmul::primitive_desc pd;
  for (size_t i = 0; i < w.layouts_.size() && !w_; ++i) {  // the first layout a fast kernel takes for m rows
    try {
      pd = lowp_matmul_desc(w.precision_, m, w.k_, w.n_, w.layouts_[i].get_desc(), bias, w.act_, io.output);
      w_ = w.layouts_[i];
    } catch (const Error&) {
      if (i + 1 == w.layouts_.size()) throw;
    }
  }
  prim_ = dnnl::matmul(pd);
  x_ = memory(pd.src_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  y_ = memory(pd.dst_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  args_ = {{DNNL_ARG_SRC, x_.get()}, {DNNL_ARG_WEIGHTS, w_.get()}, {DNNL_ARG_DST, y_.get()}};
  if (bias && w.precision_ == Precision::bf16) {
    bias_ = memory(pd.bias_desc(), cpu_engine(), DNNL_MEMORY_NONE);
    args_.push_back({DNNL_ARG_BIAS, bias_.get()});
  }
  if (pd.scratchpad_desc().get_size()) {
    onednn_scratch_ = memory(pd.scratchpad_desc(), cpu_engine());
    args_.push_back({DNNL_ARG_SCRATCHPAD, onednn_scratch_.get()});
  }
}

// bf16: x rounded. int8: x quantized and its row scales (the s32 accumulators
// lie in y, converted in place: the epilogue then touches half the memory).
size_t LowPrecisionProjection::workspace_bytes() const {
  const size_t mk = size_t(m_ * weight_->k_);
  if (weight_->precision_ == Precision::bf16) return io_.input ? 0 : aligned(mk * sizeof(uint16_t));
  return aligned(mk) + aligned(size_t(m_) * sizeof(float)) + (weight_->avx2_ ? weight_->avx2_->scratch_bytes(m_) : 0);
}

void LowPrecisionProjection::run(const void* x_in, void* y_out, const float* bias, void* workspace) {
  const auto* x = static_cast<const float*>(x_in);
  auto* y = static_cast<float*>(y_out);
  if (weight_->precision_ == Precision::int8) return run_int8(x, y, bias, static_cast<char*>(workspace));
  const void* rounded = x_in;
  if (!io_.input) {
    auto* halves = static_cast<uint16_t*>(workspace);
    const int64_t mk = m_ * weight_->k_;
#pragma omp parallel for simd if (mk > (int64_t(1) << 16)) schedule(static)
    for (int64_t i = 0; i < mk; ++i) halves[i] = f32_to_bf16(x[i]);
    rounded = halves;
  }
  dnnl_memory_set_data_handle_v2(x_.get(), const_cast<void*>(rounded), nullptr);
  dnnl_memory_set_data_handle_v2(y_.get(), y, nullptr);
  if (bias_) dnnl_memory_set_data_handle_v2(bias_.get(), const_cast<float*>(bias), nullptr);
  execute(prim_, stream_, args_, "oneDNN matmul (bf16 projection)");
}

void LowPrecisionProjection::run_int8(const float* x, float* y, const float* bias, char* workspace) {
  const int64_t n = weight_->n_, k = weight_->k_;
  auto* q = reinterpret_cast<int8_t*>(workspace);
  auto* row_scale = reinterpret_cast<float*>(workspace + aligned(size_t(m_ * k)));
  quantize_rows(x, m_, k, q, row_scale);
  if (const Int8GemmAvx2* avx2 = weight_->avx2_.get())
    return avx2->run(q, row_scale, m_, weight_->scales_.data(), bias, weight_->act_, y,
                     workspace + aligned(size_t(m_ * k)) + aligned(size_t(m_) * sizeof(float)));
  dnnl_memory_set_data_handle_v2(x_.get(), q, nullptr);
  dnnl_memory_set_data_handle_v2(y_.get(), y, nullptr);  // s32 accumulators, converted in place below
  execute(prim_, stream_, args_, "oneDNN matmul (int8 projection)");
  const float* col_scale = weight_->scales_.data();
  const Activation act = weight_->act_;
#pragma omp parallel for if (m_ * n > (int64_t(1) << 16)) schedule(static)
  for (int64_t i = 0; i < m_; ++i) {
    const float s = row_scale[i];
    float* out = y + i * n;  // each element holds an int32's bits until it is overwritten
#pragma omp simd
    for (int64_t j = 0; j < n; ++j)
      out[j] = float(std::bit_cast<int32_t>(out[j])) * (s * col_scale[j]) + (bias ? bias[j] : 0.f);
    apply_activation(act, out, long(n));
  }
}

}  // namespace heed::cpu
