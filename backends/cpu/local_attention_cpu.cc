// LocalAttention (Luong): each query attends to keys in [c - left, c + right]
// clipped to its sequence, c = t (monotonic) or floor(p_t) (predictive, with the
// Gaussian weighting exp(-(s - p_t)^2 / (2 sigma^2)) applied after the softmax);
// with window_rule "distance", to the keys with p_t - left <= s <= p_t + right.
// Work and memory are O(T * window): no T x S matrix exists.
#include <omp.h>

#include <cmath>

#include "backends/cpu/attention_rows.h"
#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "ops/attention.h"

namespace heed::cpu {
namespace {

using namespace ops::local_attention;

struct LocalConfig {
  bool predictive;
  int64_t left, right;
  double sigma;
  std::string score;
  bool source_weights;  // weights over the whole source [B, T, S] instead of the window
  bool distance_rule;   // window [ceil(p - left), floor(p + right)] instead of floor(p) -/+ left/right
};

class LocalInvocation final : public Invocation {
 public:
  LocalInvocation(const LocalConfig& cfg, const NodeShapes& s) : cfg_(cfg) {
    B_ = s.in[kQuery].shape[0], T_ = s.in[kQuery].shape[1], Dq_ = s.in[kQuery].shape[2];
    S_ = s.in[kKeys].shape[1], Dk_ = s.in[kKeys].shape[2], Dv_ = s.in[kValues].shape[2];
    W_ = cfg.left + cfg.right + 1;
    weights_ = s.out.size() > 1;
    lengths_ = present(s, kLengths) ? (s.in[kLengths].dtype == DType::i32 ? 1 : 2) : 0;
    if (cfg.score == "general") {
      qw_.resize(size_t(B_ * T_ * Dk_));
      project_ = StridedMatmul(View4::matrix(B_ * T_, Dq_, Dq_), View4::transposed(Dq_, Dk_, Dq_),
                               View4::matrix(B_ * T_, Dk_, Dk_));
    }
    if (cfg.predictive) {
      hidden_ = s.in[kPredictWeight].shape[0];
      hp_.resize(size_t(B_ * T_ * hidden_));
      predict_ = StridedMatmul(View4::matrix(B_ * T_, Dq_, Dq_), View4::transposed(Dq_, hidden_, Dq_),
                               View4::matrix(B_ * T_, hidden_, hidden_));
    }
    scale_ = cfg.score == "scaled_dot" ? 1.f / std::sqrt(float(Dk_)) : 1.f;
    sigma_ = cfg.sigma > 0 ? cfg.sigma : double(cfg.left + cfg.right) / 4.0;
    rows_.resize(size_t(omp_get_max_threads() * W_));
  }

  void run(const Buffers& io) override {
    const float* q = io.in_as<float>(kQuery);
    if (!qw_.empty()) {
      project_.run(q, io.in_as<float>(kScoreWeight), qw_.data());
      q = qw_.data();
    }
    if (cfg_.predictive) predict_.run(io.in_as<float>(kQuery), io.in_as<float>(kPredictWeight), hp_.data());
    const float* k = io.in_as<float>(kKeys);
    const float* v = io.in_as<float>(kValues);
    const float* vp = io.in_as<float>(kPredictVector);
    float* out = io.out_as<float>(0);
    float* weights = weights_ ? io.out_as<float>(1) : nullptr;
    const int64_t rows = B_ * T_;
#pragma omp parallel for if (rows * W_ * Dk_ > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t b = r / T_, t = r % T_;
      int64_t len = S_;
      if (lengths_ == 1) len = std::min<int64_t>(S_, io.in_as<int32_t>(kLengths)[b]);
      if (lengths_ == 2) len = std::min<int64_t>(S_, io.in_as<int64_t>(kLengths)[b]);
      double p = double(t);
      if (cfg_.predictive) {
        const float* h = hp_.data() + r * hidden_;
        double z = 0;
        for (int64_t i = 0; i < hidden_; ++i) z += double(vp[i]) * std::tanh(double(h[i]));
        p = double(len) / (1.0 + std::exp(-z));
      }
      const int64_t first = cfg_.distance_rule ? int64_t(std::ceil(p - double(cfg_.left))) : int64_t(std::floor(p)) - cfg_.left;
      const int64_t last = cfg_.distance_rule ? int64_t(std::floor(p + double(cfg_.right))) : int64_t(std::floor(p)) + cfg_.right;
      int64_t lo = std::max<int64_t>(first, 0), hi = std::min<int64_t>(last + 1, len);
      const bool window_out = weights && !cfg_.source_weights;
      float* a = window_out ? weights + r * W_ : rows_.data() + size_t(omp_get_thread_num()) * size_t(W_);
      std::fill(a, a + W_, 0.f);
      const float* qr = q + r * Dk_;
      for (int64_t j = lo; j < hi; ++j) {
        const float* kr = k + (b * S_ + j) * Dk_;
        float dot = 0.f;
#pragma omp simd reduction(+ : dot)
        for (int64_t e = 0; e < Dk_; ++e) dot += qr[e] * kr[e];
        a[j - first] = dot * scale_;
      }
      if (hi > lo) masked_softmax_row(a + (lo - first), hi - lo, {b, 0, t}, lo, AttentionMasks{}, 0);
      if (cfg_.predictive)
        for (int64_t j = lo; j < hi; ++j)
          a[j - first] *= float(std::exp(-(double(j) - p) * (double(j) - p) / (2 * sigma_ * sigma_)));
      if (weights && cfg_.source_weights) {
        float* row = weights + r * S_;
        std::fill(row, row + S_, 0.f);
        for (int64_t j = lo; j < hi; ++j) row[j] = a[j - first];
      }
      float* o = out + r * Dv_;
      std::fill(o, o + Dv_, 0.f);
      for (int64_t j = lo; j < hi; ++j) {
        const float* vr = v + (b * S_ + j) * Dv_;
        const float w = a[j - first];
#pragma omp simd
        for (int64_t e = 0; e < Dv_; ++e) o[e] += w * vr[e];
      }
    }
  }

 private:
  LocalConfig cfg_;
  int64_t B_, T_, Dq_, S_, Dk_, Dv_, W_, hidden_ = 0;
  int lengths_ = 0;  // 0: none, 1: i32, 2: i64
  bool weights_ = false;
  float scale_ = 1.f;
  double sigma_ = 1.0;
  std::vector<float> qw_, hp_, rows_;
  StridedMatmul project_, predict_;
};

}  // namespace

void register_local_attention_kernels() {
  register_kernel("LocalAttention", [](const KernelInit& init) {
    LocalConfig cfg{init.node.attr_string("center") == "predictive", init.node.attr_int("left"),
                    init.node.attr_int("right"), init.node.attr_float("sigma"), init.node.attr_string("score"),
                    init.node.attr_string("weights") == "source", init.node.attr_string("window_rule") == "distance"};
    return kernel([cfg](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<LocalInvocation>(cfg, s);
    });
  });
}

}  // namespace heed::cpu
