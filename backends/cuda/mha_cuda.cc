// MultiHeadAttention on the GPU, PyTorch layout: projections and the two
// attention GEMMs on cuBLAS (per batch item, strided over heads, so heads are
// never copied apart), the masked softmax and the KV-cache append as heed's
// kernels. Same inputs and semantics as the CPU kernel (backends/cpu/mha_cpu.cc).
#include <cmath>

#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_gemm.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"
#include "ops/attention.h"

namespace heed::cuda {
namespace {

using namespace ops::multi_head_attention;

struct MhaConfig {
  int64_t heads;
  bool causal, projected;
  float scale;
  std::string where;
};

// LoadOptions::gemm_dtype f16/bf16: the projection weights converted once at
// load (q is the packed in_proj when there is one), and the attention GEMMs on
// operands rounded per call; fp32 accumulation, softmax and outputs.
struct HalfProjections {
  DType dtype;
  std::shared_ptr<const HalfWeight> q, k, v, out;
};

class MhaInvocation final : public Invocation {
 public:
  MhaInvocation(const MhaConfig& cfg, std::shared_ptr<const HalfProjections> half, const NodeShapes& s)
      : cfg_(cfg), half_(std::move(half)) {
    const Shape& q = s.in[kQuery].shape;
    B_ = q[0], T_ = q[1], E_ = q[2], H_ = cfg.heads, Dh_ = E_ / H_;
    cached_ = present(s, kCacheK);
    cross_ = present(s, kKey);
    packed_ = !cfg.projected && !present(s, kKWeight);
    S_ = cached_ ? s.in[kCacheK].shape[2] : cross_ ? s.in[kKey].shape[cfg.projected ? 2 : 1] : T_;
    // Keys shared by groups of query rows (the op allows it) have no CUDA kernel yet.
    for (size_t i : {kKey, kKeyPaddingMask})
      if (present(s, i) && s.in[i].shape[0] != B_)
        throw Error(fmt::format("{}: on CUDA, {} must have the query's batch ({}), not {}", cfg_.where,
                                i == kKey ? "key" : "key_padding_mask", B_, s.in[i].shape[0]));
    fused_ = !cross_ && !cfg.projected && packed_;
    weights_out_ = s.out.size() > 1;
    q_cols_ = fused_ ? 3 * E_ : E_;
    qp_ = DeviceFloats(size_t(B_ * T_ * q_cols_));
    kv_rows_ = cfg.projected || fused_ ? 0 : cached_ ? B_ * T_ : B_ * S_;
    kp_ = DeviceFloats(size_t(kv_rows_ * E_));
    vp_ = DeviceFloats(size_t(kv_rows_ * E_));
    ctx_ = DeviceFloats(size_t(B_ * T_ * E_));
    if (!weights_out_) scores_ = DeviceFloats(size_t(B_ * H_ * T_ * S_));
    masks_.key_padding_bool = present(s, kKeyPaddingMask) && s.in[kKeyPaddingMask].dtype != DType::f32;
    masks_.attn_mask_bool = present(s, kAttnMask) && s.in[kAttnMask].dtype != DType::f32;
    masks_.bias_bool = present(s, kMask) && s.in[kMask].dtype != DType::f32;
    if (present(s, kMask)) mask_broadcast_strides(s.in[kMask].shape, masks_.bias_strides);
    masks_.mask_stride = S_;
    masks_.causal = cfg.causal;
    position_i32_ = cached_ && s.in[kPosition].dtype == DType::i32;
    // One query a row over a cache or projected keys: the fused decode kernel,
    // which reads the position on the device (its scores fit in shared memory).
    decode_ = T_ == 1 && (cached_ || (cfg.projected && !cfg.causal)) && size_t(Dh_ + S_) * sizeof(float) <= 48 * 1024;
    if (half_) {
      auto halves = [](int64_t n) { return DeviceFloats(size_t(n + 1) / 2); };
      x_half_ = halves(std::max(B_ * T_, kv_rows_) * E_);
      if (!decode_) {
        kv_count_ = fused_ ? 0 : cfg.projected || cached_ ? B_ * H_ * S_ * Dh_ : kv_rows_ * E_;
        qh_ = halves(B_ * T_ * q_cols_), kh_ = halves(kv_count_), vh_ = halves(kv_count_), ph_ = halves(B_ * H_ * T_ * S_);
      }
    }
  }

  void run(const Buffers& io) override {
    const float* x = io.in_as<float>(kQuery);
    const float* wq = io.in_as<float>(kQWeight);
    const float* bq = io.in_as<float>(kQBias);
    // Q (or Q, K, V side by side) [B*T, q_cols]
    project(x, B_ * T_, wq, half_ ? half_->q->get() : nullptr, q_cols_, bq, qp_.get(), q_cols_);
    const float *k = nullptr, *v = nullptr;
    int64_t ld_kv = E_, head_stride_kv = Dh_, batch_stride_kv = S_ * E_, keys = S_, position = 0;
    if (fused_) {
      k = qp_.get() + E_;
      v = qp_.get() + 2 * E_;
      ld_kv = 3 * E_;
      batch_stride_kv = T_ * 3 * E_;
    } else if (cfg_.projected) {  // [B, H, S, Dh]
      k = io.in_as<float>(kKey);
      v = io.in_as<float>(kValue);
      ld_kv = Dh_, head_stride_kv = S_ * Dh_, batch_stride_kv = H_ * S_ * Dh_;
    } else {
      const float* src_k = cross_ ? io.in_as<float>(kKey) : x;
      const float* src_v = cross_ ? io.in_as<float>(kValue) : x;
      const int64_t rows = kv_rows_;
      const float* wk = packed_ ? wq + E_ * E_ : io.in_as<float>(kKWeight);
      const float* wv = packed_ ? wq + 2 * E_ * E_ : io.in_as<float>(kVWeight);
      const float* bk = packed_ ? (bq ? bq + E_ : nullptr) : io.in_as<float>(kKBias);
      const float* bv = packed_ ? (bq ? bq + 2 * E_ : nullptr) : io.in_as<float>(kVBias);
      const uint16_t* hk = !half_ ? nullptr : packed_ ? half_->q->get() + E_ * E_ : half_->k->get();
      const uint16_t* hv = !half_ ? nullptr : packed_ ? half_->q->get() + 2 * E_ * E_ : half_->v->get();
      project(src_k, rows, wk, hk, E_, bk, kp_.get(), E_);
      project(src_v, rows, wv, hv, E_, bv, vp_.get(), E_);
      k = kp_.get();
      v = vp_.get();
      batch_stride_kv = (cached_ ? T_ : S_) * E_;
    }
    if (decode_) return decode(io, k, v, ld_kv);
    if (cached_) {
      position = read_position(io);
      float* ck = static_cast<float*>(const_cast<void*>(io.in(kCacheK)));
      float* cv = static_cast<float*>(const_cast<void*>(io.in(kCacheV)));
      append_to_cache(ck, k, B_, T_, H_, Dh_, S_, ld_kv, position, stream());
      append_to_cache(cv, v, B_, T_, H_, Dh_, S_, ld_kv, position, stream());
      check_launch("KV cache append");
      k = ck, v = cv;
      ld_kv = Dh_, head_stride_kv = S_ * Dh_, batch_stride_kv = H_ * S_ * Dh_;
      keys = position + T_;
    }
    float* scores = weights_out_ ? io.out_as<float>(1) : scores_.get();
    const KvView kv{k, v, ld_kv, head_stride_kv, batch_stride_kv};
    scaled_scores(kv, keys, scores);
    AttentionMaskArgs m = masks_;
    m.key_padding = io.in(kKeyPaddingMask);
    m.attn_mask = io.in(kAttnMask);
    m.bias = io.in(kMask);
    m.query_offset = position;
    attention_softmax(scores, B_, H_, T_, S_, keys, m, stream());
    check_launch("attention softmax");
    context(kv, keys, scores);
    project(ctx_.get(), B_ * T_, io.in_as<float>(kOutWeight), half_ ? half_->out->get() : nullptr, E_,
            io.in_as<float>(kOutBias), io.out_as<float>(0), E_);
  }

  void check_after_run(const Buffers& io) const override {
    if (decode_ && cached_ && capacity_.value()) read_position(io);  // throws, saying where
  }
  bool replayable() const override { return !cached_ || decode_; }

 private:
  // Appends this step's keys and values (if cached) and attends in one launch;
  // the cache position stays on the device, a full cache is reported after the run.
  void decode(const Buffers& io, const float* k, const float* v, int64_t ld_kv) {
    DecodeAttentionArgs a;
    if (cached_) {
      float* ck = static_cast<float*>(const_cast<void*>(io.in(kCacheK)));
      float* cv = static_cast<float*>(const_cast<void*>(io.in(kCacheV)));
      capacity_.clear();
      append_to_cache_at(ck, k, B_, 1, H_, Dh_, S_, ld_kv, io.in(kPosition), position_i32_, capacity_.device(), stream());
      append_to_cache_at(cv, v, B_, 1, H_, Dh_, S_, ld_kv, io.in(kPosition), position_i32_, capacity_.device(), stream());
      check_launch("KV cache append");
      k = ck, v = cv;
      a.position = io.in(kPosition);
      a.position_i32 = position_i32_;
      a.error = capacity_.device();
    } else {
      a.fixed_keys = S_;
    }
    a.q = qp_.get(), a.k = k, a.v = v;
    a.q_ld = q_cols_, a.head_stride = S_ * Dh_, a.batch_stride = H_ * S_ * Dh_;
    a.B = B_, a.H = H_, a.Dh = Dh_, a.L = S_;
    a.scale = cfg_.scale > 0 ? cfg_.scale : 1.f / std::sqrt(float(Dh_));
    a.masks = masks_;
    a.masks.key_padding = io.in(kKeyPaddingMask);
    a.masks.attn_mask = io.in(kAttnMask);
    a.masks.bias = io.in(kMask);
    a.ctx = ctx_.get(), a.ctx_ld = E_;
    a.weights = weights_out_ ? io.out_as<float>(1) : nullptr;
    decode_attention(a, stream());
    check_launch("decode attention");
    if (cached_) capacity_.publish();
    project(ctx_.get(), B_, io.in_as<float>(kOutWeight), half_ ? half_->out->get() : nullptr, E_, io.in_as<float>(kOutBias),
            io.out_as<float>(0), E_);
  }

  // Keys and values of every (batch, head): element (b, h, j, d) at
  // b * batch_stride + h * head_stride + j * ld + d.
  struct KvView {
    const float *k, *v;
    int64_t ld, head_stride, batch_stride;
  };

  // x [rows, E] . W^T + bias into y (row stride ldy): fp32, or with the weight's
  // f16/bf16 copy w_half.
  void project(const float* x, int64_t rows, const float* w, const uint16_t* w_half, int64_t n, const float* bias, float* y,
               int64_t ldy) const {
    if (w_half) linear_half(half_->dtype, x, rows, E_, w_half, n, bias, y, ldy, x_half_);
    else linear_f32(x, rows, E_, E_, w, n, bias, y, ldy);
  }

  // scores_bh [T, keys] = scale Q_bh K_bh^T, batched over heads (heads never copied apart).
  void scaled_scores(const KvView& kv, int64_t keys, float* scores) const {
    const float scale = cfg_.scale > 0 ? cfg_.scale : 1.f / std::sqrt(float(Dh_));
    const float zero = 0.f;
    if (!half_) {
      for (int64_t b = 0; b < B_; ++b)
        check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(keys), int(T_), int(Dh_), &scale,
                                        kv.k + b * kv.batch_stride, int(kv.ld), kv.head_stride,
                                        qp_.get() + b * T_ * q_cols_, int(q_cols_), Dh_, &zero,
                                        scores + b * H_ * T_ * S_, int(S_), T_ * S_, int(H_)),
              "attention scores");
      return;
    }
    const cudaDataType_t t = cuda_type(half_->dtype);
    const uint16_t* q = to_half(qp_.get(), B_ * T_ * q_cols_, half_->dtype, qh_);
    const uint16_t* k = fused_ ? q + E_ : to_half(kv.k, kv_count_, half_->dtype, kh_);
    for (int64_t b = 0; b < B_; ++b)
      check(cublasGemmStridedBatchedEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(keys), int(T_), int(Dh_), &scale,
                                       k + b * kv.batch_stride, t, int(kv.ld), kv.head_stride, q + b * T_ * q_cols_, t,
                                       int(q_cols_), Dh_, &zero, scores + b * H_ * T_ * S_, CUDA_R_32F, int(S_), T_ * S_,
                                       int(H_), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "attention scores (f16/bf16)");
  }

  // ctx_bh [T, Dh] = P_bh V_bh, written head by head into [B, T, E].
  void context(const KvView& kv, int64_t keys, const float* probs) const {
    const float one = 1.f, zero = 0.f;
    if (!half_) {
      for (int64_t b = 0; b < B_; ++b)
        check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(Dh_), int(T_), int(keys), &one,
                                        kv.v + b * kv.batch_stride, int(kv.ld), kv.head_stride,
                                        probs + b * H_ * T_ * S_, int(S_), T_ * S_, &zero,
                                        ctx_.get() + b * T_ * E_, int(E_), Dh_, int(H_)),
              "attention context");
      return;
    }
    const cudaDataType_t t = cuda_type(half_->dtype);
    // fused: V's columns of the Q/K/V rows rounded by scaled_scores, at 2E
    const uint16_t* v = fused_ ? reinterpret_cast<const uint16_t*>(qh_.get()) + 2 * E_ : to_half(kv.v, kv_count_, half_->dtype, vh_);
    const uint16_t* p = to_half(probs, B_ * H_ * T_ * S_, half_->dtype, ph_);
    for (int64_t b = 0; b < B_; ++b)
      check(cublasGemmStridedBatchedEx(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(Dh_), int(T_), int(keys), &one,
                                       v + b * kv.batch_stride, t, int(kv.ld), kv.head_stride, p + b * H_ * T_ * S_, t,
                                       int(S_), T_ * S_, &zero, ctx_.get() + b * T_ * E_, CUDA_R_32F, int(E_), Dh_, int(H_),
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "attention context (f16/bf16)");
  }

  int64_t read_position(const Buffers& io) const {
    int64_t position = 0;
    int32_t p32 = 0;
    check(cudaMemcpyAsync(position_i32_ ? static_cast<void*>(&p32) : static_cast<void*>(&position), io.in(kPosition),
                          position_i32_ ? 4 : 8, cudaMemcpyDeviceToHost, stream()),
          "reading the cache position");
    check(cudaStreamSynchronize(stream()), "reading the cache position");
    if (position_i32_) position = p32;
    if (position < 0 || position + T_ > S_)
      throw Error(fmt::format("{}: KV cache cannot take {} more positions at position {} (capacity {})", cfg_.where, T_,
                              position, S_));
    return position;
  }

  MhaConfig cfg_;
  std::shared_ptr<const HalfProjections> half_;
  int64_t B_, T_, E_, H_, Dh_, S_, q_cols_, kv_rows_, kv_count_ = 0;
  bool cached_, cross_, packed_, fused_, weights_out_, position_i32_ = false, decode_ = false;
  DeviceCheck capacity_;
  DeviceFloats qp_, kp_, vp_, ctx_, scores_;
  DeviceFloats x_half_, qh_, kh_, vh_, ph_;  // f16/bf16 copies of GEMM operands
  AttentionMaskArgs masks_;
};

// The f16/bf16 copies of the projection weights, or nullptr: fp32 GEMMs (the
// default, or a weight that is not a constant and so has no copy made at load).
std::shared_ptr<const HalfProjections> half_projections(const KernelInit& init) {
  if (init.gemm_dtype == DType::f32) return nullptr;
  auto given = [&](size_t i) { return i < init.node.inputs.size() && !init.node.inputs[i].empty(); };
  auto copy = [&](size_t i) { return std::make_shared<const HalfWeight>(*init.constants[i], init.gemm_dtype); };
  for (size_t i : {kQWeight, kKWeight, kVWeight, kOutWeight})
    if (given(i) && !init.constants[i]) return nullptr;
  auto h = std::make_shared<HalfProjections>();
  h->dtype = init.gemm_dtype;
  h->q = copy(kQWeight), h->out = copy(kOutWeight);
  if (given(kKWeight)) h->k = copy(kKWeight);
  if (given(kVWeight)) h->v = copy(kVWeight);
  return h;
}

}  // namespace

void register_mha_kernels() {
  register_kernel("MultiHeadAttention", [](const KernelInit& init) {
    MhaConfig cfg{init.node.attr_int("num_heads"), bool(init.node.attr_int("causal")),
                  bool(init.node.attr_int("kv_projected")), float(init.node.attr_float("scale")), init.node.where()};
    std::shared_ptr<const HalfProjections> half = half_projections(init);
    return kernel([cfg, half](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<MhaInvocation>(cfg, half, s);
    });
  });
}

}  // namespace heed::cuda
