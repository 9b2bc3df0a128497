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

class MhaInvocation final : public Invocation {
 public:
  MhaInvocation(const MhaConfig& cfg, const NodeShapes& s) : cfg_(cfg) {
    const Shape& q = s.in[kQuery].shape;
    B_ = q[0], T_ = q[1], E_ = q[2], H_ = cfg.heads, Dh_ = E_ / H_;
    cached_ = present(s, kCacheK);
    cross_ = present(s, kKey);
    packed_ = !cfg.projected && !present(s, kKWeight);
    S_ = cached_ ? s.in[kCacheK].shape[2] : cross_ ? s.in[kKey].shape[cfg.projected ? 2 : 1] : T_;
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
    masks_.mask_stride = S_;
    masks_.causal = cfg.causal;
    position_i32_ = cached_ && s.in[kPosition].dtype == DType::i32;
    // One query a row over a cache or projected keys: the fused decode kernel,
    // which reads the position on the device (its scores fit in shared memory).
    decode_ = T_ == 1 && (cached_ || (cfg.projected && !cfg.causal)) && size_t(Dh_ + S_) * sizeof(float) <= 48 * 1024;
  }

  void run(const Buffers& io) override {
    const float* x = io.in_as<float>(kQuery);
    const float* wq = io.in_as<float>(kQWeight);
    const float* bq = io.in_as<float>(kQBias);
    // Q (or Q, K, V side by side) [B*T, q_cols]
    linear_f32(x, B_ * T_, E_, E_, wq, q_cols_, bq, qp_.get(), q_cols_);
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
      linear_f32(src_k, rows, E_, E_, wk, E_, bk, kp_.get(), E_);
      linear_f32(src_v, rows, E_, E_, wv, E_, bv, vp_.get(), E_);
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
    const float scale = cfg_.scale > 0 ? cfg_.scale : 1.f / std::sqrt(float(Dh_));
    const float one = 1.f, zero = 0.f;
    for (int64_t b = 0; b < B_; ++b)  // scores_bh [T, keys] = scale Q_bh K_bh^T, batched over heads
      check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(keys), int(T_), int(Dh_), &scale,
                                      k + b * batch_stride_kv, int(ld_kv), head_stride_kv,
                                      qp_.get() + b * T_ * q_cols_, int(q_cols_), Dh_, &zero,
                                      scores + b * H_ * T_ * S_, int(S_), T_ * S_, int(H_)),
            "attention scores");
    AttentionMaskArgs m = masks_;
    m.key_padding = io.in(kKeyPaddingMask);
    m.attn_mask = io.in(kAttnMask);
    m.query_offset = position;
    attention_softmax(scores, B_, H_, T_, S_, keys, m, stream());
    check_launch("attention softmax");
    for (int64_t b = 0; b < B_; ++b)  // ctx_bh [T, Dh] = P_bh V_bh, written head by head into [B, T, E]
      check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(Dh_), int(T_), int(keys), &one,
                                      v + b * batch_stride_kv, int(ld_kv), head_stride_kv,
                                      scores + b * H_ * T_ * S_, int(S_), T_ * S_, &zero,
                                      ctx_.get() + b * T_ * E_, int(E_), Dh_, int(H_)),
            "attention context");
    linear_f32(ctx_.get(), B_ * T_, E_, E_, io.in_as<float>(kOutWeight), E_, io.in_as<float>(kOutBias),
               io.out_as<float>(0), E_);
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
    a.ctx = ctx_.get(), a.ctx_ld = E_;
    a.weights = weights_out_ ? io.out_as<float>(1) : nullptr;
    decode_attention(a, stream());
    check_launch("decode attention");
    if (cached_) capacity_.publish();
    linear_f32(ctx_.get(), B_, E_, E_, io.in_as<float>(kOutWeight), E_, io.in_as<float>(kOutBias), io.out_as<float>(0), E_);
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
  int64_t B_, T_, E_, H_, Dh_, S_, q_cols_, kv_rows_;
  bool cached_, cross_, packed_, fused_, weights_out_, position_i32_ = false, decode_ = false;
  DeviceCheck capacity_;
  DeviceFloats qp_, kp_, vp_, ctx_, scores_;
  AttentionMaskArgs masks_;
};

}  // namespace

void register_mha_kernels() {
  register_kernel("MultiHeadAttention", [](const KernelInit& init) {
    MhaConfig cfg{init.node.attr_int("num_heads"), bool(init.node.attr_int("causal")),
                  bool(init.node.attr_int("kv_projected")), float(init.node.attr_float("scale")), init.node.where()};
    return kernel([cfg](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<MhaInvocation>(cfg, s); });
  });
}

}  // namespace heed::cuda
