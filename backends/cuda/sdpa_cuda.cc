// ScaledDotProductAttention on the GPU: scores for every (batch, head) in one
// strided-batched cuBLAS call, the mask (any shape that broadcasts to
// [B, H, T, S]) and softmax in attention_softmax (a query with every key masked
// gets zeros, as on the CPU), then the context in a second batched call.
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

class SdpaInvocation final : public Invocation {
 public:
  SdpaInvocation(float scale, bool k_transposed, const NodeShapes& s) : k_transposed_(k_transposed) {
    const Shape &q = s.in[0].shape, &k = s.in[1].shape, &v = s.in[2].shape;
    BH_ = q[0] * q[1], B_ = q[0], H_ = q[1], T_ = q[2], D_ = q[3], Dv_ = v[3];
    S_ = k_transposed ? k[3] : k[2];
    scale_ = scale < 0 ? 1.f / std::sqrt(float(D_)) : scale;
    weights_ = s.out.size() > 1;
    if (!weights_) scores_ = DeviceFloats(size_t(BH_ * T_ * S_));
    mask_ = present(s, 3);
    if (mask_) mask_broadcast_strides(s.in[3].shape, masks_.bias_strides);
    masks_.mask_stride = S_;
  }

  void run(const Buffers& io) override {
    if (BH_ * T_ == 0) return;
    float* scores = weights_ ? io.out_as<float>(1) : scores_.get();
    float* out = io.out_as<float>(0);
    const float one = 1.f, zero = 0.f;
    if (S_ > 0 && D_ > 0)  // column-major: scores_bh^T [S, T] = K_bh [S, D] . Q_bh^T [D, T]
      check(cublasSgemmStridedBatched(cublas(), k_transposed_ ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, int(S_), int(T_),
                                      int(D_), &scale_, io.in_as<float>(1), int(k_transposed_ ? S_ : D_), S_ * D_,
                                      io.in_as<float>(0), int(D_), T_ * D_, &zero, scores, int(S_), T_ * S_, int(BH_)),
            "attention scores");
    else if (S_ > 0)
      check(cudaMemsetAsync(scores, 0, size_t(BH_ * T_ * S_) * sizeof(float), stream()), "attention scores over no depth");
    AttentionMaskArgs m = masks_;
    m.bias = mask_ ? io.in(3) : nullptr;
    attention_softmax(scores, B_, H_, T_, S_, S_, m, stream());
    check_launch("attention softmax");
    if (Dv_ == 0) return;
    if (S_ == 0) {  // no keys: every query's context is zeros
      check(cudaMemsetAsync(out, 0, size_t(BH_ * T_ * Dv_) * sizeof(float), stream()), "attention over no keys");
      return;
    }
    // column-major: out_bh^T [Dv, T] = V_bh^T [Dv, S] . P_bh^T [S, T]
    check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(Dv_), int(T_), int(S_), &one, io.in_as<float>(2),
                                    int(Dv_), S_ * Dv_, scores, int(S_), T_ * S_, &zero, out, int(Dv_), T_ * Dv_, int(BH_)),
          "attention context");
  }

 private:
  bool k_transposed_, weights_ = false, mask_ = false;
  int64_t BH_, B_, H_, T_, D_, Dv_, S_;
  float scale_;
  DeviceFloats scores_;
  AttentionMaskArgs masks_;
};

}  // namespace

void register_sdpa_kernels() {
  register_kernel("ScaledDotProductAttention", [](const KernelInit& init) {
    const float scale = float(init.node.attr_float("scale"));
    const bool k_transposed = init.node.attr_int("k_transposed");
    return kernel([=](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<SdpaInvocation>(scale, k_transposed, s);
    });
  });
}

}  // namespace heed::cuda
