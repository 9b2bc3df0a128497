// ScaledDotProductAttention on the shared attention core, one call per batch
// element (and per head when the mask differs by head): the core's masks are a
// row per batch element or per query, and a [B, 1, T, S] mask is both.
#include <cmath>

#include "backends/cpu/attention_core.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

// A [1, heads, rows, cols] view of a [B, H, rows, cols] tensor (stored as [B, H, cols, rows] when transposed).
View4 head_view(int64_t heads, int64_t H, int64_t rows, int64_t cols, bool transposed = false) {
  const int64_t per_head = rows * cols;
  if (transposed) return {{1, heads, rows, cols}, {H * per_head, per_head, 1, rows}};
  return {{1, heads, rows, cols}, {H * per_head, per_head, cols, 1}};
}

class Sdpa final : public Invocation {
 public:
  Sdpa(float scale, bool k_transposed, bool capture, const NodeShapes& s) {
    const Shape &q = s.in[0].shape, &k = s.in[1].shape, &v = s.in[2].shape;
    B_ = q[0], H_ = q[1], T_ = q[2], D_ = q[3], S_ = k_transposed ? k[3] : k[2], Dv_ = v[3];
    if (scale < 0) scale = 1.f / std::sqrt(float(D_));
    if (s.in.size() > 3 && s.in[3].present) {
      std::vector<int64_t> m(size_t(4 - s.in[3].shape.rank()), 1);  // right-aligned to [B, H, T, S]
      m.insert(m.end(), s.in[3].shape.begin(), s.in[3].shape.end());
      mask_ = true;
      mask_b_ = m[0] == 1 ? 0 : m[1] * m[2] * S_;
      per_head_ = m[1] != 1;
      mask_h_ = per_head_ ? m[2] * S_ : 0;
      per_query_ = m[2] != 1;
    }
    heads_ = per_head_ ? 1 : H_;
    AttentionDims dims{1, heads_, T_, S_, D_, Dv_};
    View4 qv = head_view(heads_, H_, T_, D_), kv = head_view(heads_, H_, S_, D_, k_transposed),
          vv = head_view(heads_, H_, S_, Dv_), ov = head_view(heads_, H_, T_, Dv_);
    weights_ = s.out.size() > 1;
    const bool materialize = weights_ && !capture;  // a capture must not change how the context is computed
    core_ = std::make_unique<AttentionCore>(dims, qv, kv, vv, ov, scale,
                                            materialize ? AttentionCore::Mode::materialized : AttentionCore::Mode::blocked);
    if (weights_ && !materialize) {
      capture_ctx_.resize(size_t(heads_ * T_ * Dv_));
      View4 own{{1, heads_, T_, Dv_}, {heads_ * T_ * Dv_, T_ * Dv_, Dv_, 1}};
      capture_core_ = std::make_unique<AttentionCore>(dims, qv, kv, vv, own, scale, AttentionCore::Mode::materialized);
    }
  }

  void run(const Buffers& io) override {
    const float *q = io.in_as<float>(0), *k = io.in_as<float>(1), *v = io.in_as<float>(2);
    const float* mask = mask_ ? io.in_as<float>(3) : nullptr;
    float *o = io.out_as<float>(0), *w = weights_ ? io.out_as<float>(1) : nullptr;
    for (int64_t b = 0; b < B_; ++b)
      for (int64_t h = 0; h < H_; h += heads_) {
        const int64_t head = b * H_ + h;
        AttentionMasks m;
        m.mask_stride = S_;
        if (mask) (per_query_ ? m.attn_mask : m.key_padding) = mask + b * mask_b_ + h * mask_h_;
        const float *qh = q + head * T_ * D_, *kh = k + head * S_ * D_, *vh = v + head * S_ * Dv_;
        float* wh = w ? w + head * T_ * S_ : nullptr;
        core_->run(qh, kh, vh, o + head * T_ * Dv_, m, capture_core_ ? nullptr : wh, S_, io.workspace);
        if (capture_core_) capture_core_->run(qh, kh, vh, capture_ctx_.data(), m, wh, S_, io.workspace);
      }
  }
  // The cores run one after the other: they share the workspace.
  size_t workspace_bytes() const override {
    return std::max(core_->workspace_bytes(), capture_core_ ? capture_core_->workspace_bytes() : 0);
  }

 private:
  int64_t B_, H_, T_, D_, S_, Dv_, heads_ = 1;
  bool mask_ = false, per_head_ = false, per_query_ = false, weights_ = false;
  int64_t mask_b_ = 0, mask_h_ = 0;
  std::unique_ptr<AttentionCore> core_, capture_core_;
  std::vector<float> capture_ctx_;
};

}  // namespace

void register_sdpa_kernels() {
  register_kernel("ScaledDotProductAttention", [](const KernelInit& init) {
    const float scale = float(init.node.attr_float("scale"));
    const bool kt = init.node.attr_int("k_transposed"), capture = init.node.captured_outputs > 0;
    return kernel([=](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<Sdpa>(scale, kt, capture, s);
    });
  });
}

}  // namespace heed::cpu
