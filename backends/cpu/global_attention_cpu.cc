// GlobalAttention (Luong / Bahdanau): dot, scaled_dot and general scores run on
// the shared attention core with one head; additive scores are computed by a
// loop over precomputed projections (v . tanh(Wq q + Wk k + b)), then the same
// masked softmax and a oneDNN context GEMM.
#include <cmath>

#include "backends/cpu/attention_core.h"
#include "backends/cpu/attention_rows.h"
#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "ops/attention.h"

namespace heed::cpu {
namespace {

using namespace ops::global_attention;

View4 one_head(int64_t B, int64_t rows, int64_t cols) { return {{B, 1, rows, cols}, {rows * cols, 0, cols, 1}}; }

class DotAttention final : public Invocation {
 public:
  DotAttention(const std::string& score, bool capture, const NodeShapes& s) {
    B_ = s.in[kQuery].shape[0], T_ = s.in[kQuery].shape[1], Dq_ = s.in[kQuery].shape[2];
    S_ = s.in[kKeys].shape[1], Dk_ = s.in[kKeys].shape[2];
    int64_t Dv = s.in[kValues].shape[2];
    general_ = score == "general";
    if (general_) {
      qw_.resize(size_t(B_ * T_ * Dk_));
      project_ = StridedMatmul(View4::matrix(B_ * T_, Dq_, Dq_), View4::transposed(Dq_, Dk_, Dq_),
                               View4::matrix(B_ * T_, Dk_, Dk_));
    }
    weights_ = s.out.size() > 1;
    float scale = score == "scaled_dot" ? 1.f / std::sqrt(float(Dk_)) : 1.f;
    AttentionDims dims{B_, 1, T_, S_, Dk_, Dv};
    View4 q = one_head(B_, T_, Dk_), k = one_head(B_, S_, Dk_), v = one_head(B_, S_, Dv), o = one_head(B_, T_, Dv);
    bool materialize = weights_ && !capture;  // a capture must not change how the context is computed
    core_ = std::make_unique<AttentionCore>(dims, q, k, v, o, scale,
                                            materialize ? AttentionCore::Mode::materialized : AttentionCore::Mode::blocked);
    if (weights_ && !materialize) {
      capture_ctx_.resize(size_t(B_ * T_ * Dv));
      capture_core_ = std::make_unique<AttentionCore>(dims, q, k, v, o, scale, AttentionCore::Mode::materialized);
    }
    mask_ = AdditiveMask(present(s, kMask) ? s.in[kMask] : TensorDesc{DType::f32, {}, false});
  }

  void run(const Buffers& io) override {
    const float* q = io.in_as<float>(kQuery);
    if (general_) {
      project_.run(q, io.in_as<float>(kScoreWeight), qw_.data());
      q = qw_.data();
    }
    AttentionMasks m;
    m.key_padding = mask_.get(io.in(kMask));
    m.mask_stride = S_;
    const float *k = io.in_as<float>(kKeys), *v = io.in_as<float>(kValues);
    core_->run(q, k, v, io.out_as<float>(0), m, capture_core_ || !weights_ ? nullptr : io.out_as<float>(1), S_,
               io.workspace);
    if (capture_core_) capture_core_->run(q, k, v, capture_ctx_.data(), m, io.out_as<float>(1), S_, io.workspace);
  }
  // The cores run one after the other: they share the workspace.
  size_t workspace_bytes() const override {
    return std::max(core_->workspace_bytes(), capture_core_ ? capture_core_->workspace_bytes() : 0);
  }

 private:
  int64_t B_, T_, Dq_, S_, Dk_;
  bool general_ = false, weights_ = false;
  std::vector<float> qw_;
  StridedMatmul project_;
  std::unique_ptr<AttentionCore> core_, capture_core_;
  std::vector<float> capture_ctx_;
  AdditiveMask mask_;
};

class AdditiveAttention final : public Invocation {
 public:
  explicit AdditiveAttention(const NodeShapes& s) {
    B_ = s.in[kQuery].shape[0], T_ = s.in[kQuery].shape[1], Dq_ = s.in[kQuery].shape[2];
    S_ = s.in[kKeys].shape[1], Dk_ = s.in[kKeys].shape[2], Dv_ = s.in[kValues].shape[2];
    A_ = s.in[kScoreWeight].shape[0];
    int64_t ld = Dq_ + Dk_;  // W [A, Dq + Dk]: its first Dq columns act on q, the rest on k
    qp_.resize(size_t(B_ * T_ * A_));
    kp_.resize(size_t(B_ * S_ * A_));
    bool bias = present(s, kScoreBias);
    project_q_ = StridedMatmul(View4::matrix(B_ * T_, Dq_, Dq_), View4::transposed(Dq_, A_, ld),
                               View4::matrix(B_ * T_, A_, A_), 1.f, false, bias);
    project_k_ = StridedMatmul(View4::matrix(B_ * S_, Dk_, Dk_), View4::transposed(Dk_, A_, ld),
                               View4::matrix(B_ * S_, A_, A_));
    weights_ = s.out.size() > 1;
    if (!weights_) probs_.resize(size_t(B_ * T_ * S_));
    context_ = StridedMatmul(one_head(B_, T_, S_), one_head(B_, S_, Dv_), one_head(B_, T_, Dv_));
    mask_ = AdditiveMask(present(s, kMask) ? s.in[kMask] : TensorDesc{DType::f32, {}, false});
  }

  void run(const Buffers& io) override {
    const float* w = io.in_as<float>(kScoreWeight);
    project_q_.run(io.in_as<float>(kQuery), w, qp_.data(), io.in_as<float>(kScoreBias));
    project_k_.run(io.in_as<float>(kKeys), w + Dq_, kp_.data());
    const float* vvec = io.in_as<float>(kScoreVector);
    float* p = weights_ ? io.out_as<float>(1) : probs_.data();
    AttentionMasks m;
    m.key_padding = mask_.get(io.in(kMask));
    m.mask_stride = S_;
    const int64_t rows = B_ * T_, S = S_, A = A_;
#pragma omp parallel for if (rows * S * A > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t b = r / T_;
      const float* qa = qp_.data() + r * A;
      float* row = p + r * S;
      for (int64_t j = 0; j < S; ++j) {
        const float* ka = kp_.data() + (b * S + j) * A;
        float sum = 0.f;
        for (int64_t a = 0; a < A; ++a) sum += vvec[a] * std::tanh(qa[a] + ka[a]);
        row[j] = sum;
      }
      masked_softmax_row(row, S, {b, 0, r % T_}, 0, m, S);
    }
    context_.run(p, io.in_as<float>(kValues), io.out_as<float>(0));
  }

 private:
  int64_t B_, T_, Dq_, S_, Dk_, Dv_, A_;
  bool weights_ = false;
  std::vector<float> qp_, kp_, probs_;
  StridedMatmul project_q_, project_k_, context_;
  AdditiveMask mask_;
};

}  // namespace

void register_global_attention_kernels() {
  register_kernel("GlobalAttention", [](const KernelInit& init) {
    std::string score = init.node.attr_string("score");
    bool capture = init.node.captured_outputs > 0;
    return kernel([score, capture](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      if (score == "additive" || score == "concat") return std::make_unique<AdditiveAttention>(s);
      return std::make_unique<DotAttention>(score, capture, s);
    });
  });
}

}  // namespace heed::cpu
