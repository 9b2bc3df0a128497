// ScaledDotProductAttention on the shared attention core, all batch items and
// heads in one call: the mask, of any shape that broadcasts to [B, H, T, S], is
// the core's general (strided) mask.
#include <cmath>

#include "backends/cpu/attention_core.h"
#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

// A contiguous [B, H, rows, cols] tensor (stored as [B, H, cols, rows] when transposed).
View4 heads_view(int64_t B, int64_t H, int64_t rows, int64_t cols, bool transposed = false) {
  const int64_t per_head = rows * cols;
  if (transposed) return {{B, H, rows, cols}, {H * per_head, per_head, 1, rows}};
  return {{B, H, rows, cols}, {H * per_head, per_head, cols, 1}};
}

class Sdpa final : public Invocation {
 public:
  Sdpa(float scale, bool k_transposed, bool capture, const NodeShapes& s) {
    const Shape &q = s.in[0].shape, &k = s.in[1].shape, &v = s.in[2].shape;
    const int64_t B = q[0], H = q[1], T = q[2], D = q[3], Dv = v[3];
    S_ = k_transposed ? k[3] : k[2];
    if (scale < 0) scale = 1.f / std::sqrt(float(D));
    mask_ = present(s, 3);
    if (mask_) mask_broadcast_strides(s.in[3].shape, bias_strides_);
    AttentionDims dims{B, H, T, S_, D, Dv};
    View4 qv = heads_view(B, H, T, D), kv = heads_view(B, H, S_, D, k_transposed), vv = heads_view(B, H, S_, Dv),
          ov = heads_view(B, H, T, Dv);
    weights_ = s.out.size() > 1;
    const bool materialize = weights_ && !capture;  // a capture must not change how the context is computed
    core_ = std::make_unique<AttentionCore>(dims, qv, kv, vv, ov, scale,
                                            materialize ? AttentionCore::Mode::materialized : AttentionCore::Mode::blocked);
    if (weights_ && !materialize) {
      capture_ctx_.resize(size_t(B * H * T * Dv));
      capture_core_ = std::make_unique<AttentionCore>(dims, qv, kv, vv, ov, scale, AttentionCore::Mode::materialized);
    }
  }

  void run(const Buffers& io) override {
    const float *q = io.in_as<float>(0), *k = io.in_as<float>(1), *v = io.in_as<float>(2);
    float *o = io.out_as<float>(0), *w = weights_ ? io.out_as<float>(1) : nullptr;
    AttentionMasks m;
    if (mask_) {
      m.bias = io.in_as<float>(3);
      std::copy_n(bias_strides_, 3, m.bias_strides);
    }
    core_->run(q, k, v, o, m, capture_core_ ? nullptr : w, S_, io.workspace);
    if (capture_core_) capture_core_->run(q, k, v, capture_ctx_.data(), m, w, S_, io.workspace);
  }
  // The cores run one after the other: they share the workspace.
  size_t workspace_bytes() const override {
    return std::max(core_->workspace_bytes(), capture_core_ ? capture_core_->workspace_bytes() : 0);
  }

 private:
  int64_t S_;
  bool mask_ = false, weights_ = false;
  int64_t bias_strides_[3] = {0, 0, 0};
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
