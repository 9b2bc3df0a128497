// GlobalAttention (dot, scaled_dot, general, additive/concat scores) and
// LocalAttention (local-m, local-p) on the GPU, as ops/attention.h defines them.
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_gemm.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"
#include "ops/attention.h"

namespace heed::cuda {
namespace {

class GlobalInvocation final : public Invocation {
 public:
  GlobalInvocation(const std::string& score, const NodeShapes& s) : score_(score) {
    using namespace ops::global_attention;
    const Shape &q = s.in[kQuery].shape, &k = s.in[kKeys].shape, &v = s.in[kValues].shape;
    B_ = q[0], T_ = q[1], Dq_ = q[2], S_ = k[1], Dk_ = k[2], Dv_ = v[2];
    additive_ = score == "additive" || score == "concat";
    A_ = additive_ ? s.in[kScoreWeight].shape[0] : 0;
    if (score == "general") qw_ = DeviceFloats(size_t(B_ * T_ * Dk_));
    if (additive_) {
      qa_ = DeviceFloats(size_t(B_ * T_ * A_));
      ka_ = DeviceFloats(size_t(B_ * S_ * A_));
    }
    weights_out_ = s.out.size() > 1;
    if (!weights_out_) scores_ = DeviceFloats(size_t(B_ * T_ * S_));
    masks_.key_padding_bool = present(s, kMask) && s.in[kMask].dtype != DType::f32;
    masks_.mask_stride = S_;
  }

  void run(const Buffers& io) override {
    using namespace ops::global_attention;
    const float *q = io.in_as<float>(kQuery), *k = io.in_as<float>(kKeys), *v = io.in_as<float>(kValues);
    float* scores = weights_out_ ? io.out_as<float>(1) : scores_.get();
    const float zero = 0.f, one = 1.f;
    if (additive_) {  // W [A, Dq + Dk]: its first Dq columns act on q, the rest on k
      const float* w = io.in_as<float>(kScoreWeight);
      linear_f32(q, B_ * T_, Dq_, Dq_, w, A_, io.in_as<float>(kScoreBias), qa_.get(), A_, Unary::identity, Dq_ + Dk_);
      linear_f32(k, B_ * S_, Dk_, Dk_, w + Dq_, A_, nullptr, ka_.get(), A_, Unary::identity, Dq_ + Dk_);
      additive_scores(qa_.get(), ka_.get(), io.in_as<float>(kScoreVector), scores, B_, T_, S_, A_, stream());
      check_launch("additive attention scores");
    } else {
      const float* qq = q;
      if (score_ == "general") {
        linear_f32(q, B_ * T_, Dq_, Dq_, io.in_as<float>(kScoreWeight), Dk_, nullptr, qw_.get(), Dk_);
        qq = qw_.get();
      }
      const float scale = score_ == "scaled_dot" ? 1.f / std::sqrt(float(Dk_)) : 1.f;
      // scores_b [T, S] = q_b K_b^T, batched over b
      check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(S_), int(T_), int(Dk_), &scale, k, int(Dk_),
                                      S_ * Dk_, qq, int(Dk_), T_ * Dk_, &zero, scores, int(S_), T_ * S_, int(B_)),
            "attention scores");
    }
    AttentionMaskArgs m = masks_;
    m.key_padding = io.in(kMask);
    attention_softmax(scores, B_, 1, T_, S_, S_, m, stream());
    check_launch("attention softmax");
    check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(Dv_), int(T_), int(S_), &one, v, int(Dv_),
                                    S_ * Dv_, scores, int(S_), T_ * S_, &zero, io.out_as<float>(0), int(Dv_), T_ * Dv_,
                                    int(B_)),
          "attention context");
  }

 private:
  std::string score_;
  int64_t B_, T_, Dq_, S_, Dk_, Dv_, A_;
  bool additive_, weights_out_;
  DeviceFloats qw_, qa_, ka_, scores_;
  AttentionMaskArgs masks_;
};

class LocalInvocation final : public Invocation {
 public:
  LocalInvocation(LocalAttentionArgs args, bool general, const NodeShapes& s) : a_(args), general_(general) {
    using namespace ops::local_attention;
    const Shape &q = s.in[kQuery].shape, &k = s.in[kKeys].shape;
    a_.B = q[0], a_.T = q[1], a_.S = k[1], a_.Dk = k[2], a_.Dv = s.in[kValues].shape[2];
    Dq_ = q[2];
    a_.lengths64 = present(s, kLengths) && s.in[kLengths].dtype == DType::i64;
    if (general) qw_ = DeviceFloats(size_t(a_.B * a_.T * a_.Dk));
    if (a_.predictive) {
      a_.P = s.in[kPredictWeight].shape[0];
      hp_ = DeviceFloats(size_t(a_.B * a_.T * a_.P));
    }
    weights_out_ = s.out.size() > 1;
  }

  void run(const Buffers& io) override {
    using namespace ops::local_attention;
    const float* q = io.in_as<float>(kQuery);
    if (a_.predictive)
      linear_f32(q, a_.B * a_.T, Dq_, Dq_, io.in_as<float>(kPredictWeight), a_.P, nullptr, hp_.get(), a_.P);
    if (general_) {
      linear_f32(q, a_.B * a_.T, Dq_, Dq_, io.in_as<float>(kScoreWeight), a_.Dk, nullptr, qw_.get(), a_.Dk);
      q = qw_.get();
    }
    LocalAttentionArgs a = a_;
    a.lengths = io.in(kLengths);
    local_attention(a, q, io.in_as<float>(kKeys), io.in_as<float>(kValues), hp_.get(), io.in_as<float>(kPredictVector),
                    io.out_as<float>(0), weights_out_ ? io.out_as<float>(1) : nullptr, stream());
    check_launch("local attention");
  }

 private:
  LocalAttentionArgs a_;
  bool general_, weights_out_ = false;
  int64_t Dq_ = 0;
  DeviceFloats qw_, hp_;
};

}  // namespace

void register_luong_attention_kernels() {
  register_kernel("GlobalAttention", [](const KernelInit& init) {
    const std::string score = init.node.attr_string("score");
    return kernel([score](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<GlobalInvocation>(score, s);
    });
  });
  register_kernel("LocalAttention", [](const KernelInit& init) {
    LocalAttentionArgs a;
    a.predictive = init.node.attr_string("center") == "predictive";
    a.left = init.node.attr_int("left");
    a.distance_rule = init.node.attr_string("window_rule") == "distance";
    a.right = init.node.attr_int("right");
    const double sigma = init.node.attr_float("sigma");
    a.sigma = sigma > 0 ? sigma : double(a.left + a.right) / 4.0;
    a.source_weights = init.node.attr_string("weights") == "source";
    const std::string score = init.node.attr_string("score");
    const bool general = score == "general";
    return kernel([a, general, score](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      LocalAttentionArgs args = a;
      args.scale = score == "scaled_dot" ? 1.f / std::sqrt(float(s.in[ops::local_attention::kKeys].shape[2])) : 1.f;
      return std::make_unique<LocalInvocation>(args, general, s);
    });
  });
}

}  // namespace heed::cuda
