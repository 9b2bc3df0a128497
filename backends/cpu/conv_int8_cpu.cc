#include "backends/cpu/conv_int8_cpu.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/projection_lowp.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

using namespace ops::conv2d;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Range {
  float amax;
  bool negative, finite;
};

// The two passes over the fp32 input, in AVX2 intrinsics (heed's baseline): GCC
// left their portable loops scalar (max/min with NaN semantics, the clamp), and
// they were most of an int8 ResNet's time. Chunks of kChunk floats per thread.
constexpr int64_t kChunk = int64_t(1) << 14;

Range range_of(const float* x, int64_t n) {
  float amax = 0.f, low = 0.f;
  bool unordered = false;
#pragma omp parallel for reduction(max : amax) reduction(min : low) reduction(|| : unordered) if (n > 4 * kChunk)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t end = std::min(n, c + kChunk);
    const __m256 sign = _mm256_set1_ps(-0.f);
    __m256 hi = _mm256_setzero_ps(), lo = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    int64_t i = c;
    for (; i + 8 <= end; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      hi = _mm256_max_ps(hi, _mm256_andnot_ps(sign, v));
      lo = _mm256_min_ps(lo, v);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_mul_ps(v, _mm256_setzero_ps()), _mm256_setzero_ps(), _CMP_NEQ_UQ));
    }
    float h[8], l[8];
    _mm256_storeu_ps(h, hi);
    _mm256_storeu_ps(l, lo);
    bool b = _mm256_movemask_ps(bad) != 0;  // inf * 0 and NaN * 0 are NaN
    for (int k = 0; k < 8; ++k) {
      amax = std::max(amax, h[k]);
      low = std::min(low, l[k]);
    }
    for (; i < end; ++i) {
      amax = std::max(amax, std::fabs(x[i]));
      low = std::min(low, x[i]);
      b = b || !(x[i] * 0.f == 0.f);
    }
    unordered = unordered || b;
  }
  return {amax, low < 0.f, !unordered};
}

// q = rint(clamp(x * inv, lo, hi)) as u8 or s8 (lo, hi within the type).
// Returns false if x holds inf or NaN.
bool quantize(const float* x, int64_t n, float inv, float lo, float hi, bool u8, int8_t* q) {
  bool unordered = false;
#pragma omp parallel for reduction(|| : unordered) if (n > 4 * kChunk)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t end = std::min(n, c + kChunk);
    const __m256 scale = _mm256_set1_ps(inv), low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 bad = _mm256_setzero_ps();
    auto ints = [&](int64_t at) {  // cvtps rounds to nearest even, as std::rint
      const __m256 v = _mm256_loadu_ps(x + at);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_mul_ps(v, _mm256_setzero_ps()), _mm256_setzero_ps(), _CMP_NEQ_UQ));
      return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, scale), low), high));
    };
    int64_t i = c;
    for (; i + 32 <= end; i += 32) {
      const __m256i ab = _mm256_packs_epi32(ints(i), ints(i + 8)), cd = _mm256_packs_epi32(ints(i + 16), ints(i + 24));
      const __m256i bytes = u8 ? _mm256_packus_epi16(ab, cd) : _mm256_packs_epi16(ab, cd);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(bytes, order));
    }
    bool b = _mm256_movemask_ps(bad) != 0;
    for (; i < end; ++i) {
      b = b || !(x[i] * 0.f == 0.f);
      const float v = std::rint(std::clamp(x[i] * inv, lo, hi));
      q[i] = u8 ? int8_t(uint8_t(v)) : int8_t(v);
    }
    unordered = unordered || b;
  }
  return !unordered;
}

bool quantized(DType t) { return t == DType::u8 || t == DType::i8; }

// How the convolution gets its integer input.
enum class InputMode {
  stored,    // the value is stored quantized (engine/quantized_values.h)
  fixed,     // fp32 with a calibrated scale: one pass quantizes it
  measured,  // fp32, uncalibrated: a pass for its range, then one to quantize it
};

// One convolution primitive for one input type (u8 or s8), its weight packed
// as it wants, and the memories its runs rebind.
struct Variant {
  dnnl::convolution_forward prim;
  memory src, weights, dst, sx, bias, scratch;
  std::unordered_map<int, memory> args;
};

class Int8ConvInvocation final : public Invocation {
 public:
  Int8ConvInvocation(const ConvGeometry& g, std::shared_ptr<const Int8ConvWeight> weight, const NodeShapes& s)
      : weight_(std::move(weight)), stream_(cpu_engine()) {
    const TensorDesc &x = s.in[kX], &y = s.out[0];
    bias_ = s.in.size() > kBias && s.in[kBias].present;
    residual_ = s.in.size() > kResidual && s.in[kResidual].present;
    mode_ = quantized(x.dtype) ? InputMode::stored : x.scale > 0.f ? InputMode::fixed : InputMode::measured;
    x_ = x;
    y_scale_ = quantized(y.dtype) ? y.scale : 0.f;
    const memory::desc in = layout_desc(x), out = layout_desc(y);
    // The kernels run channels last: inputs and outputs in another layout are reordered.
    const memory::desc in_nhwc(in.dims(), in.data_type(), tag::nhwc);
    dst_ = memory::desc(out.dims(), out.data_type(), tag::nhwc);
    n_ = int64_t(in.dims()[0] * in.dims()[1] * in.dims()[2] * in.dims()[3]);
    if (in != in_nhwc) {  // never a stored one: those are channels last
      to_nhwc_ = Reorder(in, in_nhwc);
      x_nhwc_.resize(size_t(n_));
    }
    if (out != dst_) {
      from_nhwc_ = Reorder(dst_, out);
      y_nhwc_.resize(dst_.get_size() / sizeof(float));
    }
    if (residual_) prepare_residual(s.in[kResidual]);
    if (mode_ != InputMode::stored) q_.resize(size_t(n_));
    if (mode_ == InputMode::measured) {
      for (dt type : {dt::u8, dt::s8}) variants_.push_back(make_variant(g, in.dims(), type));
    } else {
      sx_ = x.scale;
      variants_.push_back(make_variant(g, in.dims(), mode_ == InputMode::stored ? in.data_type()
                                                     : x.nonnegative ? dt::u8 : dt::s8));
    }
  }

  void run(const Buffers& io) override {
    const void* src = mode_ == InputMode::stored ? io.in(kX) : quantize_input(io);
    void* dst = y_nhwc_.empty() ? io.out(0) : static_cast<void*>(y_nhwc_.data());
    if (residual_ && dst != io.in(kResidual)) {  // the sum post-op adds what dst holds
      if (residual_bytes_) std::memcpy(dst, io.in(kResidual), residual_bytes_);
      else residual_in_.run(stream_, io.in(kResidual), dst);
    }
    Variant& v = variants_[mode_ == InputMode::measured && !u8_ ? 1 : 0];
    v.src.set_data_handle(const_cast<void*>(src));
    v.dst.set_data_handle(dst);
    if (folded_bias_) {
      const float* b = io.in_as<float>(kBias);
      for (size_t c = 0; c < scaled_bias_.size(); ++c) scaled_bias_[c] = b[c] * inverse_scales_[c];
    } else if (bias_) {
      v.bias.set_data_handle(const_cast<void*>(io.in(kBias)));
    }
    v.prim.execute(stream_, v.args);
    stream_.wait();
    if (!y_nhwc_.empty()) from_nhwc_.run(stream_, dst, io.out(0));
  }

 private:
  // x in fp32 to q_, and sx_ (and u8_) for it; returns q_.
  const int8_t* quantize_input(const Buffers& io) {
    const float* x = io.in_as<float>(kX);
    if (!x_nhwc_.empty()) {
      to_nhwc_.run(stream_, x, x_nhwc_.data());
      x = x_nhwc_.data();
    }
    if (mode_ == InputMode::fixed) {
      const bool u8 = x_.nonnegative;
      if (!quantize(x, n_, 1.f / x_.scale, u8 ? 0.f : -127.f, u8 ? 255.f : 127.f, u8, q_.data()))
        throw Error("int8 with calibrated ranges: the input holds inf or NaN, which its fixed scale cannot represent "
                    "(run it in f32, or quantize without --calibrate)");
      return q_.data();
    }
    const Range r = range_of(x, n_);
    u8_ = !r.negative;
    const float levels = u8_ ? 255.f : 127.f;
    sx_ = r.finite ? r.amax / levels : NAN;
    const float inv = r.finite && r.amax > 0.f ? levels / r.amax : 0.f;
    quantize(x, n_, inv, u8_ ? 0.f : -127.f, levels, u8_, q_.data());
    return q_.data();
  }

  // The sum post-op adds what dst holds, in dst's type: a stored residual is
  // copied as it is when dst is quantized too (its scale in the post-op), else
  // made fp32 into dst; an fp32 one only meets an fp32 dst (the planner's rule).
  void prepare_residual(const TensorDesc& r) {
    const memory::desc rmd = layout_desc(r);
    if (quantized(r.dtype) && y_scale_ > 0.f) {
      residual_bytes_ = dst_.get_size();
      sum_scale_ = r.scale;
      sum_type_ = rmd.data_type();
    } else if (quantized(r.dtype)) {
      residual_in_ = Reorder(rmd, dst_, r.scale);
    } else if (rmd == dst_) {
      residual_bytes_ = dst_.get_size();
    } else {
      residual_in_ = Reorder(rmd, dst_);
    }
  }

  Variant make_variant(const ConvGeometry& g, const memory::dims& x, dt type) {
    const Shape& w = weight_->shape;
    const int64_t o = w[0];
    dnnl::primitive_attr attr = scratchpad_attr();
    // s_w per output channel; a fixed s_x folded in, a measured one multiplied
    // by a post-op reading this run's (a binary post-op costs the 1x1 AMX
    // kernels of a ResNet's first stage a fifth of their time).
    const bool measured = mode_ == InputMode::measured;
    // 7-bit weights meet an s8 input as 2 q, which oneDNN halves (conv_int8_cpu.h).
    const bool doubled = weight_->levels < 127 && type == dt::s8;
    std::vector<float> scales = weight_->scale;
    for (float& s : scales) s *= (measured ? 1.f : sx_) * (doubled ? 0.5f : 1.f);
    attr.set_output_scales(1 << 1, scales);
    dnnl::post_ops ops;
    const memory::desc sx_md({1, 1, 1, 1}, dt::f32, tag::abcd), bias_md({1, o, 1, 1}, dt::f32, tag::abcd);
    if (measured) ops.append_binary(dnnl::algorithm::binary_mul, sx_md);
    // A fixed scale's bias goes in as the convolution's own, which oneDNN adds
    // before the output scales: b / (s_w s_x), made by each run (the bias is an
    // input); not where a channel's scale is 0 (an all-zero weight channel).
    folded_bias_ = bias_ && !measured && std::all_of(scales.begin(), scales.end(), [](float s) { return s > 0.f; });
    if (folded_bias_) inverse_scales_ = scales;
    if (bias_ && !folded_bias_) ops.append_binary(dnnl::algorithm::binary_add, bias_md);
    if (residual_) ops.append_sum(sum_scale_, sum_type_);
    if (g.relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (y_scale_ > 0.f) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, 1.f / y_scale_, 0.f);
    attr.set_post_ops(ops);
    const memory::desc src(x, type, tag::nhwc);
    const memory::dims wd = g.groups == 1 ? memory::dims{w[0], w[1], w[2], w[3]}
                                          : memory::dims{g.groups, w[0] / g.groups, w[1], w[2], w[3]};
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                        memory::desc(wd, dt::s8, tag::any),
                                        folded_bias_ ? memory::desc({o}, dt::f32, tag::a) : memory::desc(), dst_, {g.sh, g.sw},
                                        {g.dh - 1, g.dw - 1}, {g.ph, g.pw}, {g.ph, g.pw}),
        attr, cpu_engine());
    if (std::string(pd.impl_info_str()).starts_with("ref"))
      throw Error(fmt::format("precision int8: oneDNN has only its reference kernel for this convolution ({}); use f32",
                              pd.impl_info_str()));
    Variant v;
    v.prim = dnnl::convolution_forward(pd);
    v.src = memory(src, cpu_engine(), DNNL_MEMORY_NONE);
    v.dst = memory(dst_, cpu_engine(), DNNL_MEMORY_NONE);
    v.sx = memory(sx_md, cpu_engine(), &sx_);
    v.weights = memory(pd.weights_desc(), cpu_engine());
    std::vector<int8_t> twice;
    if (doubled) std::transform(weight_->q.begin(), weight_->q.end(), std::back_inserter(twice),
                                [](int8_t q) { return int8_t(2 * q); });
    memory plain(memory::desc(wd, dt::s8, g.groups == 1 ? tag::oihw : tag::goihw), cpu_engine(),
                 const_cast<int8_t*>(doubled ? twice.data() : weight_->q.data()));
    dnnl::reorder(plain, v.weights).execute(stream_, plain, v.weights);
    stream_.wait();
    v.scratch = memory(pd.scratchpad_desc(), cpu_engine());
    v.args = {{DNNL_ARG_SRC, v.src}, {DNNL_ARG_WEIGHTS, v.weights}, {DNNL_ARG_DST, v.dst},
              {DNNL_ARG_SCRATCHPAD, v.scratch}};
    if (measured) v.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = v.sx;
    if (folded_bias_) {
      for (float& s : inverse_scales_) s = 1.f / s;
      scaled_bias_.resize(size_t(o));
      v.bias = memory(memory::desc({o}, dt::f32, tag::a), cpu_engine(), scaled_bias_.data());
      v.args[DNNL_ARG_BIAS] = v.bias;
    } else if (bias_) {
      v.bias = memory(bias_md, cpu_engine(), DNNL_MEMORY_NONE);
      v.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(measured ? 1 : 0) | DNNL_ARG_SRC_1] = v.bias;
    }
    return v;
  }

  std::shared_ptr<const Int8ConvWeight> weight_;
  dnnl::stream stream_;
  bool bias_ = false, residual_ = false;
  InputMode mode_ = InputMode::measured;
  TensorDesc x_;
  float y_scale_ = 0.f;  // a quantized output's scale (0: fp32)
  memory::desc dst_;
  int64_t n_ = 0;
  Reorder to_nhwc_, from_nhwc_, residual_in_;
  size_t residual_bytes_ = 0;
  float sum_scale_ = 1.f;
  bool folded_bias_ = false;  // the bias scaled into the convolution's own (fixed input scale)
  std::vector<float> inverse_scales_, scaled_bias_;
  dt sum_type_ = dt::undef;
  std::vector<float> x_nhwc_, y_nhwc_;
  std::vector<int8_t> q_;
  float sx_ = 0.f;  // x's scale, read by the binary post-op
  bool u8_ = false;  // measured: this run's input is u8
  std::vector<Variant> variants_;  // measured: u8 input, s8 input; else the one
};

}  // namespace

int int8_conv_levels() { return int8_gemm_exact() ? 127 : 63; }

Int8ConvWeight::Int8ConvWeight(const Tensor& w, const StoredWeight* stored, int levels_)
    : shape(w.shape()), levels(levels_) {
  const int64_t o = shape[0], k = o ? shape.numel() / o : 0;
  if (stored && stored->axis == 0 && levels == 127) {
    q.assign(stored->values.data_as<int8_t>(), stored->values.data_as<int8_t>() + shape.numel());
    scale.assign(stored->scales.data_as<float>(), stored->scales.data_as<float>() + o);
    return;
  }
  q.resize(size_t(shape.numel()));
  scale.resize(size_t(o));
  quantize_rows(w.data_as<float>(), o, k, q.data(), scale.data(), float(levels));
}

std::unique_ptr<Invocation> int8_conv_invocation(const ConvGeometry& g, std::shared_ptr<const Int8ConvWeight> weight,
                                                 const NodeShapes& s) {
  return std::make_unique<Int8ConvInvocation>(g, std::move(weight), s);
}

}  // namespace heed::cpu
