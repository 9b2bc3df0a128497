// MultiHeadAttention, PyTorch layout: projections on oneDNN (constant weights
// packed once at load, projection.h), the attention core
// on head-split strided views (heads are never copied apart), then the output
// projection. With a KV cache the new keys and values are written into the
// caller's cache tensors at `position` and attention runs over [0, position + T).
#include <cmath>
#include <cstring>

#include "backends/cpu/attention_core.h"
#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection.h"
#include "ops/attention.h"

namespace heed::cpu {
namespace {

using namespace ops::multi_head_attention;

struct MhaConfig {
  int64_t heads;
  bool causal, projected;
  float scale;
  std::string where;
  bool capture;  // the weights output was added by the loader, not declared
  // Separate constant q/k/v projections of a self-attention, concatenated once at
  // load into in_proj's packed layout, so that one GEMM makes Q, K and V.
  std::shared_ptr<const Tensor> packed_weight, packed_bias;
  // The constant projection weights in oneDNN's preferred layout, packed once:
  // Q, K and V side by side (fused self-attention) or apart, and the output's.
  // A null one (its weight is not a constant) runs as a strided matmul instead.
  std::shared_ptr<const ProjectionWeight> w_qkv, w_q, w_k, w_v, w_out;
  // The attention core's: bf16 (on AMX tiles, where the CPU has them) when the
  // projections run in bf16.
  Precision core_precision = Precision::f32;
};

// Whether q/k/v_proj, all constants, are concatenated at load (a self-attention's).
bool concatenates_qkv(const KernelInit& init) {
  const auto& c = init.constants;
  return !init.node.attr_int("kv_projected") && !init.node.has_input(kKey) && init.node.has_input(kKWeight) &&
         c[kQWeight] && c[kKWeight] && c[kVWeight];
}

// [3E, E] and [3E] from q/k/v_proj when all are constants (biases optional).
void pack_projections(MhaConfig& cfg, const KernelInit& init) {
  const auto& c = init.constants;
  if (!concatenates_qkv(init)) return;
  bool any_bias = init.node.has_input(kQBias) || init.node.has_input(kKBias) || init.node.has_input(kVBias);
  for (size_t b : {kQBias, kKBias, kVBias})
    if (init.node.has_input(b) && !c[b]) return;
  const int64_t e = c[kQWeight]->shape()[0];
  auto w = std::make_shared<Tensor>(Tensor::empty(DType::f32, {3 * e, e}));
  for (int i = 0; i < 3; ++i)
    std::memcpy(w->data_as<float>() + i * e * e, c[kQWeight + size_t(i)]->data(), size_t(e * e) * sizeof(float));
  cfg.packed_weight = w;
  if (!any_bias) return;
  auto b = std::make_shared<Tensor>(Tensor::zeros(DType::f32, {3 * e}));
  for (int i = 0; i < 3; ++i)
    if (c[kQBias + size_t(i)]) std::memcpy(b->data_as<float>() + i * e, c[kQBias + size_t(i)]->data(), size_t(e) * sizeof(float));
  cfg.packed_bias = b;
}

// Whether the in-projection weight is PyTorch's packed in_proj [3E, E] (given, or
// concatenated at load), and whether one GEMM makes Q, K and V (self-attention).
bool in_proj_packed(const MhaConfig& cfg, const ir::Node& node) {
  return !cfg.projected && (!node.has_input(kKWeight) || cfg.packed_weight);
}
bool fused_qkv(const MhaConfig& cfg, const ir::Node& node) {
  return !node.has_input(kKey) && !cfg.projected && in_proj_packed(cfg, node);
}

void pack_for_onednn(MhaConfig& cfg, const KernelInit& init) {
  const auto& c = init.constants;
  const Tensor* in = cfg.packed_weight ? cfg.packed_weight.get() : c[kQWeight];
  // The stored form of input `input` from channel `first` (a concatenation made here has none).
  auto part = [&](size_t input, int64_t first) {
    return input == kQWeight && cfg.packed_weight ? std::nullopt : stored_part(init, input, WeightLayout::out_in, first);
  };
  auto weight = [&](const float* w, int64_t n, int64_t k, std::optional<StoredPart> stored) {
    return std::make_shared<const ProjectionWeight>(w, n, k, Activation::none, cfg.packed_weight, WeightLayout::out_in,
                                                    init.precision, stored);
  };
  if (in) {
    const int64_t e = in->shape()[1];
    const float* w = in->data_as<float>();
    if (fused_qkv(cfg, init.node)) {
      cfg.w_qkv = weight(w, 3 * e, e, part(kQWeight, 0));
    } else {
      cfg.w_q = weight(w, e, e, part(kQWeight, 0));
      if (in_proj_packed(cfg, init.node)) {
        cfg.w_k = weight(w + e * e, e, e, part(kQWeight, e));
        cfg.w_v = weight(w + 2 * e * e, e, e, part(kQWeight, 2 * e));
      }
    }
  }
  auto whole = [&](size_t input) {
    const Tensor& t = *c[input];
    return weight(t.data_as<float>(), t.shape()[0], t.shape()[1], part(input, 0));
  };
  if (!cfg.projected && !in_proj_packed(cfg, init.node) && c[kKWeight] && c[kVWeight]) {
    cfg.w_k = whole(kKWeight);
    cfg.w_v = whole(kVWeight);
  }
  if (c[kOutWeight]) cfg.w_out = whole(kOutWeight);
  // Q, K and V concatenated, then packed: the concatenation is no longer read (its
  // shape stays, saying the weights are one in_proj).
  if (cfg.packed_weight && cfg.w_qkv && !cfg.w_qkv->reads_source())
    cfg.packed_weight = std::make_shared<const Tensor>(Tensor::view(DType::f32, cfg.packed_weight->shape(), nullptr));
}

// One projection of an invocation: on the packed constant weight, or a strided
// matmul over the weight input.
struct ProjectionStep {
  Projection packed;
  StridedMatmul strided;
  ProjectionStep() = default;
  ProjectionStep(const std::shared_ptr<const ProjectionWeight>& w, const View4& x, const View4& wt, const View4& y, bool bias,
                 Bf16Io io = {}) {
    if (w) packed = Projection(w, x.dims[2], bias, io);
    else strided = StridedMatmul(x, wt, y, 1.f, false, bias);
  }
  size_t workspace_bytes() const { return packed.valid() ? packed.workspace_bytes() : 0; }
  void run(const float* x, const float* w, float* y, const float* bias, void* workspace) {
    if (packed.valid()) packed.run(x, y, bias, workspace);
    else strided.run(x, w, y, bias);
  }
};

// The GEMMs and the attention core of one pass over `batch` items. bf16_io: a
// bf16 self-attention whose Q, K, V and context pass between its QKV
// projection, its bf16 core and its output projection in bf16 (the values each
// would round to anyway), not fp32.
struct MhaPass {
  ProjectionStep proj_q, proj_k, proj_v, proj_out;
  std::unique_ptr<AttentionCore> core, capture_core;
  bool bf16_io = false;
};

class MhaInvocation final : public Invocation {
 public:
  MhaInvocation(const MhaConfig& cfg, const NodeShapes& s) : cfg_(cfg) {
    const Shape& q = s.in[kQuery].shape;
    B_ = q[0], T_ = q[1], E_ = q[2], H_ = cfg.heads, Dh_ = E_ / H_;
    cached_ = present(s, kCacheK);
    cross_ = present(s, kKey);
    packed_ = !cfg.projected && (!present(s, kKWeight) || cfg.packed_weight);
    S_ = cached_ ? s.in[kCacheK].shape[2] : cross_ ? s.in[kKey].shape[cfg.projected ? 2 : 1] : T_;
    if (S_ == 0) throw Error(cached_ ? "the KV cache has a capacity of 0 positions" : "there are no keys to attend over (0 keys)");
    // Projected keys may hold a row per group of query rows (the op's shape rule
    // checked that it divides): beams of one source share their keys and values.
    kv_batch_ = cfg.projected ? s.in[kKey].shape[0] : B_;
    kv_group_ = kv_batch_ ? B_ / kv_batch_ : 1;
    weights_ = s.out.size() > 1;
    // Self-attention with PyTorch's packed in_proj: one GEMM makes Q, K and V side
    // by side ([B*T, 3E]); the heads are strided views into it.
    fused_ = !cross_ && !cfg.projected && packed_;
    if (present(s, kKeyPaddingMask) && s.in[kKeyPaddingMask].shape[0]) key_padding_group_ = B_ / s.in[kKeyPaddingMask].shape[0];
    chunk_ = chunk_items();
    passes_[0] = make_pass(s, chunk_);
    if (B_ % chunk_) passes_[1] = make_pass(s, B_ % chunk_);
    place_workspace();
    key_padding_ = AdditiveMask(present(s, kKeyPaddingMask) ? s.in[kKeyPaddingMask] : TensorDesc{DType::f32, {}, false});
    attn_mask_ = AdditiveMask(present(s, kAttnMask) ? s.in[kAttnMask] : TensorDesc{DType::f32, {}, false});
    bias_ = AdditiveMask(present(s, kMask) ? s.in[kMask] : TensorDesc{DType::f32, {}, false});
    if (present(s, kMask)) mask_broadcast_strides(s.in[kMask].shape, bias_strides_);
    position_i32_ = cached_ && s.in[kPosition].dtype == DType::i32;
  }

  void run(const Buffers& io) override {
    const float* x = io.in_as<float>(kQuery);
    const AttentionMasks m = masks(io);
    // Chunks of the batch, each projected, attended and projected out before
    // the next: its Q, K and V are still in cache when the core reads them.
    for (int64_t b0 = 0; b0 < B_; b0 += chunk_)
      run_pass(io, passes_[b0 + chunk_ <= B_ ? 0 : 1], b0, x + b0 * T_ * E_, m);
  }

  size_t workspace_bytes() const override { return workspace_.bytes; }

 private:
  // About this many rows of a self-attention's Q, K and V (3E wide) at a time:
  // 256 rows of a 512-wide model in fp32 are 1.5 MB, an L2 cache of this
  // decade's server cores. In a bf16 model they pass in bf16 (MhaPass::bf16_io),
  // so twice the rows: the GEMMs run on more rows a call (batch 8, length 128:
  // 1770 -> 1580 us; length 512 stays one item a chunk).
  static constexpr int64_t kChunkBytes = int64_t(3) << 19;

  // Batch items a pass: a chunk of the batch where the pass is a self-attention
  // that only reads its own rows (no cache, no captured weights, keys shared by
  // no group of rows), else the whole batch.
  int64_t chunk_items() const {
    const bool per_item = fused_ && !cached_ && !weights_ && kv_group_ == 1 && key_padding_group_ == 1 && T_ > 1;
    if (!per_item || B_ == 0) return std::max<int64_t>(B_, 1);
    const int64_t element = cfg_.core_precision == Precision::bf16 ? 2 : 4;
    return std::clamp<int64_t>(kChunkBytes / (T_ * 3 * E_ * element), 1, B_);
  }

  MhaPass make_pass(const NodeShapes& s, int64_t batch) const {
    MhaPass p;
    const int64_t rows = batch * T_;
    const int64_t kv_rows = cfg_.projected || fused_ ? 0 : cached_ ? rows : batch * S_;
    const bool q_bias = cfg_.packed_weight ? bool(cfg_.packed_bias) : present(s, kQBias);
    const bool kv_bias = packed_ ? q_bias : present(s, kKBias);
    const View4 w = View4::transposed(E_, E_, E_);
    const int64_t q_cols = fused_ ? 3 * E_ : E_;
    make_cores(p, batch);
    p.bf16_io = fused_ && !weights_ && p.core->runs_bf16() && cfg_.w_qkv && cfg_.w_out &&
                cfg_.w_qkv->precision() == Precision::bf16 && cfg_.w_out->precision() == Precision::bf16;
    p.proj_q = ProjectionStep(fused_ ? cfg_.w_qkv : cfg_.w_q, View4::matrix(rows, E_, E_),
                              View4::transposed(E_, q_cols, E_), View4::matrix(rows, q_cols, q_cols), q_bias,
                              Bf16Io{false, p.bf16_io});
    if (kv_rows) {
      View4 x = View4::matrix(kv_rows, E_, E_);
      p.proj_k = ProjectionStep(cfg_.w_k, x, w, x, kv_bias);
      p.proj_v = ProjectionStep(cfg_.w_v, x, w, x, packed_ ? q_bias : present(s, kVBias));
    }
    p.proj_out = ProjectionStep(cfg_.w_out, View4::matrix(rows, E_, E_), w, View4::matrix(rows, E_, E_),
                                present(s, kOutBias), Bf16Io{p.bf16_io, false});
    return p;
  }

  // The pass's attention core (and the capturing one, where weights are captured).
  void make_cores(MhaPass& p, int64_t batch) const {
    const int64_t ld = fused_ ? 3 * E_ : E_;  // row stride of Q (and of K, V when fused)
    const int64_t kv_batch = batch == B_ ? kv_batch_ : batch;
    View4 heads_q{{batch, H_, T_, Dh_}, {T_ * ld, Dh_, ld, 1}};
    View4 heads_kv = cached_ || cfg_.projected ? View4{{kv_batch, H_, S_, Dh_}, {H_ * S_ * Dh_, S_ * Dh_, Dh_, 1}}
                                               : View4{{batch, H_, S_, Dh_}, {S_ * ld, Dh_, ld, 1}};
    View4 heads_ctx{{batch, H_, T_, Dh_}, {T_ * E_, Dh_, E_, 1}};
    // Captured weights come from a second, materialized pass, so that the output is
    // computed exactly as it would be without the capture. (Loops mode writes the
    // same probabilities either way.)
    const bool declared_weights = weights_ && !cfg_.capture;
    // One query a row (a decode step's cross-attention too): per-row loops, far
    // cheaper there than batched GEMMs of [1, Dh] x [Dh, S] per head.
    auto mode = cached_ || T_ == 1 || kv_group_ > 1 ? AttentionCore::Mode::loops
                        : declared_weights ? AttentionCore::Mode::materialized : AttentionCore::Mode::blocked;
    const float scale = cfg_.scale > 0 ? cfg_.scale : 1.f / std::sqrt(float(Dh_));
    const AttentionDims dims{batch, H_, T_, S_, Dh_, Dh_, kv_group_};
    p.core = std::make_unique<AttentionCore>(dims, heads_q, heads_kv, heads_kv, heads_ctx, scale, mode,
                                             AttentionCore::kSlabBytes, cfg_.core_precision);
    if (weights_ && mode == AttentionCore::Mode::blocked)
      p.capture_core = std::make_unique<AttentionCore>(dims, heads_q, heads_kv, heads_kv, heads_ctx, scale,
                                                       AttentionCore::Mode::materialized);
  }

  // The pass's batch items from b0: x is their first query row, `batch_masks`
  // the whole batch's.
  void run_pass(const Buffers& io, MhaPass& p, int64_t b0, const float* x, const AttentionMasks& batch_masks) {
    if (p.bf16_io) return run_pass_bf16(io, p, b0, x, batch_masks);
    const float* wq = cfg_.packed_weight ? cfg_.packed_weight->data_as<float>() : io.in_as<float>(kQWeight);
    const float* bq = q_bias(io);
    const size_t ee = size_t(E_ * E_);
    float* qp = workspace_at<float>(io.workspace, qp_at_);
    float* ctx = workspace_at<float>(io.workspace, ctx_at_);
    void* shared = workspace_at<void>(io.workspace, shared_at_);  // the projections' and the cores' scratch
    p.proj_q.run(x, wq, qp, bq, shared);
    const float *k = nullptr, *v = nullptr;
    int64_t position = 0, keys = S_, kv_stride = E_;
    if (fused_) {
      k = qp + E_;
      v = qp + 2 * E_;
      kv_stride = 3 * E_;
    } else if (cfg_.projected) {
      k = io.in_as<float>(kKey);
      v = io.in_as<float>(kValue);
    } else {
      const float* src_k = cross_ ? io.in_as<float>(kKey) : x;
      const float* src_v = cross_ ? io.in_as<float>(kValue) : x;
      const float* wk = packed_ ? wq + ee : io.in_as<float>(kKWeight);
      const float* wv = packed_ ? wq + 2 * ee : io.in_as<float>(kVWeight);
      const float* bk = packed_ ? (bq ? bq + E_ : nullptr) : io.in_as<float>(kKBias);
      const float* bv = packed_ ? (bq ? bq + 2 * E_ : nullptr) : io.in_as<float>(kVBias);
      float* kp = workspace_at<float>(io.workspace, kp_at_);
      float* vp = workspace_at<float>(io.workspace, vp_at_);
      p.proj_k.run(src_k, wk, kp, bk, shared);
      p.proj_v.run(src_v, wv, vp, bv, shared);
      k = kp;
      v = vp;
    }
    if (cached_) {
      position = position_i32_ ? *io.in_as<int32_t>(kPosition) : *io.in_as<int64_t>(kPosition);
      if (position < 0 || position + T_ > S_)
        throw Error(fmt::format("{}: KV cache cannot take {} more positions at position {} (capacity {})", cfg_.where,
                                T_, position, S_));
      float* ck = static_cast<float*>(const_cast<void*>(io.in(kCacheK)));
      float* cv = static_cast<float*>(const_cast<void*>(io.in(kCacheV)));
      append_to_cache(ck, k, kv_stride, position);
      append_to_cache(cv, v, kv_stride, position);
      k = ck;
      v = cv;
      keys = position + T_;
    }
    const AttentionMasks m = chunk_masks(batch_masks, b0, position);
    float* weights = weights_ ? io.out_as<float>(1) : nullptr;  // only a whole-batch pass returns them
    if (p.capture_core) {
      p.core->run(qp, k, v, ctx, m, nullptr, keys, shared);
      p.capture_core->run(qp, k, v, workspace_at<float>(io.workspace, capture_at_), m, weights, keys, shared);
    } else {
      p.core->run(qp, k, v, ctx, m, weights, keys, shared);
    }
    p.proj_out.run(ctx, io.in_as<float>(kOutWeight), io.out_as<float>(0) + b0 * T_ * E_, io.in_as<float>(kOutBias),
                   shared);
  }

  // A fused bf16 self-attention (MhaPass::bf16_io): QKV projection -> bf16 Q, K,
  // V -> the core -> bf16 context -> the output projection.
  void run_pass_bf16(const Buffers& io, MhaPass& p, int64_t b0, const float* x, const AttentionMasks& batch_masks) {
    auto* qkv = workspace_at<uint16_t>(io.workspace, qp_at_);
    auto* ctx = workspace_at<uint16_t>(io.workspace, ctx_at_);
    void* shared = workspace_at<void>(io.workspace, shared_at_);
    p.proj_q.packed.run_bf16_io(x, qkv, q_bias(io), shared);
    p.core->run_bf16_io(qkv, qkv + E_, qkv + 2 * E_, ctx, chunk_masks(batch_masks, b0, 0), shared);
    p.proj_out.packed.run_bf16_io(ctx, io.out_as<float>(0) + b0 * T_ * E_, io.in_as<float>(kOutBias), shared);
  }

  // The bias of the query projection (of Q, K and V where in_proj is packed): a
  // concatenation made at load, or the node's input.
  const float* q_bias(const Buffers& io) const {
    if (cfg_.packed_weight) return cfg_.packed_bias ? cfg_.packed_bias->data_as<float>() : nullptr;
    return io.in_as<float>(kQBias);
  }

  // The masks of the pass from batch item b0 (a chunk reads its own rows: key
  // padding groups are 1 there), queries from `position` on.
  AttentionMasks chunk_masks(const AttentionMasks& batch_masks, int64_t b0, int64_t position) const {
    AttentionMasks m = batch_masks;
    if (m.key_padding) m.key_padding += b0 * S_;
    if (m.bias) m.bias += b0 * m.bias_strides[0];
    m.query_offset = position;
    return m;
  }

  AttentionMasks masks(const Buffers& io) {
    AttentionMasks m;
    m.key_padding = key_padding_.get(io.in(kKeyPaddingMask));
    m.key_padding_group = key_padding_group_;
    m.attn_mask = attn_mask_.get(io.in(kAttnMask));
    m.bias = bias_.get(io.in(kMask));
    std::copy_n(bias_strides_, 3, m.bias_strides);
    m.mask_stride = S_;
    m.causal = cfg_.causal;
    return m;
  }

  // Q (Q, K and V when fused) and the context, projected K and V, the captured
  // pass's context, and one span that the projections and the attention cores
  // take turns with; all for the largest pass.
  void place_workspace() {
    const size_t f = sizeof(float), rows = size_t(chunk_ * T_);
    const size_t kv_rows = cfg_.projected || fused_ ? 0 : cached_ ? rows : size_t(chunk_ * S_);
    qp_at_ = workspace_.add(rows * size_t(E_ * (fused_ ? 3 : 1)) * f);
    ctx_at_ = workspace_.add(rows * size_t(E_) * f);
    kp_at_ = workspace_.add(kv_rows * size_t(E_) * f);
    vp_at_ = workspace_.add(kv_rows * size_t(E_) * f);
    capture_at_ = workspace_.add(passes_[0].capture_core ? rows * size_t(E_) * f : 0);
    std::vector<size_t> shared;
    for (const MhaPass& p : passes_) {
      if (!p.core) continue;
      shared.insert(shared.end(), {p.core->workspace_bytes(), p.capture_core ? p.capture_core->workspace_bytes() : 0,
                                   p.proj_q.workspace_bytes(), p.proj_k.workspace_bytes(), p.proj_v.workspace_bytes(),
                                   p.proj_out.workspace_bytes()});
    }
    shared_at_ = workspace_.add_shared(shared);
  }

  // rows [B, T, E] (row stride `ld`) -> cache [B, H, S, Dh] at positions [position, position + T)
  void append_to_cache(float* cache, const float* rows, int64_t ld, int64_t position) const {
    for (int64_t b = 0; b < B_; ++b)
      for (int64_t t = 0; t < T_; ++t)
        for (int64_t h = 0; h < H_; ++h)
          std::memcpy(cache + ((b * H_ + h) * S_ + position + t) * Dh_, rows + (b * T_ + t) * ld + h * Dh_,
                      size_t(Dh_) * sizeof(float));
  }

  MhaConfig cfg_;
  int64_t B_, T_, E_, H_, Dh_, S_, kv_batch_ = 0, kv_group_ = 1, key_padding_group_ = 1, chunk_ = 1;
  bool cached_, cross_, packed_, fused_, weights_, position_i32_ = false;
  MhaPass passes_[2];  // chunk_ batch items, and the rest of the batch
  WorkspacePlan workspace_;
  size_t qp_at_ = 0, ctx_at_ = 0, kp_at_ = 0, vp_at_ = 0, capture_at_ = 0, shared_at_ = 0;
  AdditiveMask key_padding_, attn_mask_, bias_;
  int64_t bias_strides_[3] = {0, 0, 0};
};

class MhaKernel final : public Kernel {
 public:
  explicit MhaKernel(const KernelInit& init)
      : cfg_{init.node.attr_int("num_heads"), bool(init.node.attr_int("causal")), bool(init.node.attr_int("kv_projected")),
             float(init.node.attr_float("scale")), init.node.where(), init.node.captured_outputs > 0, nullptr, nullptr},
        in_proj_packed_(!init.node.has_input(kKWeight) && !init.node.attr_int("kv_projected")) {
    pack_projections(cfg_, init);
    pack_for_onednn(cfg_, init);
    cfg_.core_precision = precision() == Precision::bf16 ? Precision::bf16 : Precision::f32;
  }
  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    return std::make_unique<MhaInvocation>(cfg_, s);
  }
  Precision precision() const override {
    for (const auto* w : {&cfg_.w_qkv, &cfg_.w_q, &cfg_.w_k, &cfg_.w_v, &cfg_.w_out})
      if (*w && (*w)->precision() != Precision::f32) return (*w)->precision();
    return Precision::f32;
  }
  // The projection weights are read at run time only where a projection runs on
  // them in place (or as a strided matmul, not packed).
  bool reads_constant(size_t input) const override {
    auto reads = [](const std::shared_ptr<const ProjectionWeight>& w) { return !w || w->reads_source(); };
    if (input == kOutWeight) return reads(cfg_.w_out);
    if (input != kQWeight && input != kKWeight && input != kVWeight) return true;
    if (cfg_.packed_weight) return false;  // q/k/v concatenated at load: the projections use the copy
    if (in_proj_packed_)  // in_proj [3E, E]: kept unless one projection packed it whole (run() offsets into it)
      return reads(cfg_.w_qkv);
    return reads(input == kQWeight ? cfg_.w_q : input == kKWeight ? cfg_.w_k : cfg_.w_v);
  }

 private:
  MhaConfig cfg_;
  bool in_proj_packed_;
};

}  // namespace

void register_mha_kernels() {
  // Packed from their stored form: every projection weight, but q/k/v concatenated at load (from their f32 values).
  register_kernel(
      "MultiHeadAttention", [](const KernelInit& init) { return std::make_unique<MhaKernel>(init); },
      [](const KernelInit& init, size_t input) {
        const bool qkv = input == kQWeight || input == kKWeight || input == kVWeight;
        return (input == kOutWeight || (qkv && !concatenates_qkv(init))) &&
               stored_part(init, input, WeightLayout::out_in).has_value();
      });
}

}  // namespace heed::cpu
