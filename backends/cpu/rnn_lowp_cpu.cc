// LSTM and GRU in bf16 or int8 (LoadOptions::precision): for each layer and
// direction, x W_ih^T + b_ih for all of a group's steps at once (one projection
// over its len * n rows), then per step h W_hh^T + b_hh (n rows) and the gates'
// update in fp32: LSTMCell's and GRUCell's scheme (rnn_cell_cpu.cc) over a
// sequence, the GEMMs as projections in the precision (projection_lowp.h).
// oneDNN's own int8 LSTM wants the activations' scales calibrated ahead; these
// are quantized per row as each step runs. ONNX's GRU form (linear_before_reset
// 0: the reset gate scales h before W_hn) stays on oneDNN's fp32 primitive.
#include <cmath>
#include <map>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/projection.h"
#include "backends/cpu/rnn_sequences.h"

namespace heed::cpu {
namespace {

using namespace ops::recurrent;

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

struct DirectionWeights {
  std::shared_ptr<const ProjectionWeight> ih, hh;
  const float *b_ih, *b_hh;  // may be null
};
using RnnWeights = std::vector<std::vector<DirectionWeights>>;  // [layer][direction]

// One step's gate update for n rows: gx = x W_ih^T + b_ih (this step's rows),
// gh = h W_hh^T + b_hh; h and c updated in place, h also written to y (row stride `ys`).
void lstm_step(const float* gx, const float* gh, float* h, float* c, float* y, int64_t n, int64_t H, int64_t ys) {
  for (int64_t b = 0; b < n; ++b) {
    const float *ax = gx + b * 4 * H, *ah = gh + b * 4 * H;  // PyTorch's order: i, f, g, o
    for (int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(ax[j] + ah[j]), f = sigmoid(ax[H + j] + ah[H + j]),
                  g = std::tanh(ax[2 * H + j] + ah[2 * H + j]), o = sigmoid(ax[3 * H + j] + ah[3 * H + j]);
      const float cn = f * c[b * H + j] + i * g;
      c[b * H + j] = cn;
      h[b * H + j] = y[b * ys + j] = o * std::tanh(cn);
    }
  }
}

void gru_step(const float* gx, const float* gh, float* h, float* y, int64_t n, int64_t H, int64_t ys) {
  for (int64_t b = 0; b < n; ++b) {
    const float *ax = gx + b * 3 * H, *ah = gh + b * 3 * H;  // r, z, n
    for (int64_t j = 0; j < H; ++j) {
      const float r = sigmoid(ax[j] + ah[j]), z = sigmoid(ax[H + j] + ah[H + j]);
      const float cand = std::tanh(ax[2 * H + j] + r * ah[2 * H + j]);
      h[b * H + j] = y[b * ys + j] = (1.f - z) * cand + z * h[b * H + j];
    }
  }
}

class LowPrecisionRnn final : public Invocation {
 public:
  LowPrecisionRnn(const RnnConfig& cfg, std::shared_ptr<const RnnWeights> weights, const NodeShapes& s)
      : cfg_(cfg), weights_(std::move(weights)), seq_(cfg, s) {
    const int64_t T = seq_.T, B = seq_.B, H = cfg.hidden, DH = cfg.dirs * H, states = cfg.layers * cfg.dirs * B * H;
    xs_.resize(size_t(T * B * seq_.I));
    ys_[0].resize(size_t(T * B * DH));
    ys_[1].resize(ys_[0].size());
    gx_.resize(size_t(T * B * cfg.gates() * H));
    gh_.resize(size_t(B * cfg.gates() * H));
    for (std::vector<float>* v : {&h0_, &c0_, &hn_, &cn_}) v->assign(size_t(states), 0.f);
  }

  void run(const Buffers& io) override {
    const int64_t H = cfg_.hidden, DH = cfg_.dirs * H, G = cfg_.gates() * H;
    seq_.make_groups(io, groups_);
    if (seq_.has_lengths()) std::memset(io.out(0), 0, size_t(seq_.T * seq_.B * DH) * sizeof(float));
    for (auto& [len, idx] : groups_) {
      const int64_t n = int64_t(idx.size());
      seq_.gather_x(io.in_as<float>(kX), len, idx, xs_.data());
      seq_.gather_states(io.in_as<float>(kH0), h0_.data(), idx);
      seq_.gather_states(io.in_as<float>(kC0), c0_.data(), idx);
      hn_ = h0_, cn_ = c0_;  // the steps update the states in place
      const float* src = xs_.data();
      for (int l = 0; l < cfg_.layers; ++l) {
        float* dst = ys_[l % 2].data();
        for (int d = 0; d < cfg_.dirs; ++d) {
          const DirectionWeights& w = (*weights_)[size_t(l)][size_t(d)];
          projection(w.ih, len * n, w.b_ih).run(src, gx_.data(), w.b_ih, workspace_.data());
          Projection& recurrent = projection(w.hh, n, w.b_hh);
          float *h = hn_.data() + (l * cfg_.dirs + d) * n * H, *c = cn_.data() + (l * cfg_.dirs + d) * n * H;
          for (int64_t step = 0; step < len; ++step) {
            const int64_t t = d == 0 ? step : len - 1 - step;
            recurrent.run(h, gh_.data(), w.b_hh, workspace_.data());
            float* y = dst + t * n * DH + d * H;
            if (cfg_.lstm) lstm_step(gx_.data() + t * n * G, gh_.data(), h, c, y, n, H, DH);
            else gru_step(gx_.data() + t * n * G, gh_.data(), h, y, n, H, DH);
          }
        }
        src = dst;
      }
      seq_.scatter(io, src, hn_.data(), cn_.data(), len, idx);
    }
  }

 private:
  // The projection of `w` for m rows, made on first use (one per group shape).
  Projection& projection(const std::shared_ptr<const ProjectionWeight>& w, int64_t m, const float* bias) {
    auto key = std::make_pair(w.get(), m);
    auto it = projections_.find(key);
    if (it == projections_.end()) {
      it = projections_.emplace(key, Projection(w, m, bias != nullptr)).first;
      if (it->second.workspace_bytes() > size_t(workspace_.numel()))
        workspace_ = Tensor::empty(DType::u8, Shape({int64_t(it->second.workspace_bytes())}));  // 64-byte aligned
    }
    return it->second;
  }

  RnnConfig cfg_;
  std::shared_ptr<const RnnWeights> weights_;
  SequenceBatch seq_;
  SequenceGroups groups_;
  std::vector<float> xs_, ys_[2], gx_, gh_, h0_, c0_, hn_, cn_;
  std::map<std::pair<const ProjectionWeight*, int64_t>, Projection> projections_;
  Tensor workspace_;
};

class LowPrecisionRnnKernel final : public Kernel {
 public:
  LowPrecisionRnnKernel(const RnnConfig& cfg, std::shared_ptr<const RnnWeights> weights, Precision precision,
                        std::vector<bool> packed)
      : cfg_(cfg), weights_(std::move(weights)), precision_(precision), packed_(std::move(packed)) {}
  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    return std::make_unique<LowPrecisionRnn>(cfg_, weights_, s);
  }
  bool reads_constant(size_t input) const override { return input >= packed_.size() || !packed_[input]; }
  Precision precision() const override { return precision_; }

 private:
  RnnConfig cfg_;
  std::shared_ptr<const RnnWeights> weights_;
  Precision precision_;
  std::vector<bool> packed_;  // per input: a weight packed at load (never read when running)
};

}  // namespace

bool low_precision_rnn_takes(const RnnConfig& cfg, const KernelInit& init) {
  if (init.precision == Precision::f32 || (!cfg.lstm && !cfg.linear_before_reset)) return false;
  const auto& c = init.constants;
  auto constant = [&](size_t i) { return i < c.size() && c[i]; };
  auto present = [&](size_t i) { return i < init.node.inputs.size() && !init.node.inputs[i].empty(); };
  for (int l = 0; l < cfg.layers; ++l)
    for (int d = 0; d < cfg.dirs; ++d)
      for (int which : {kWeightIh, kWeightHh, kBiasIh, kBiasHh}) {
        const size_t i = weight_input(l, d, cfg.dirs, which);
        if ((which == kWeightIh || which == kWeightHh || present(i)) && !constant(i))
          return false;  // computed weights: oneDNN's fp32 primitive takes them
      }
  return true;
}

std::unique_ptr<Kernel> low_precision_rnn_kernel(const RnnConfig& cfg, const KernelInit& init) {
  if (!low_precision_rnn_takes(cfg, init)) return nullptr;
  const auto& c = init.constants;
  auto present = [&](size_t i) { return i < init.node.inputs.size() && !init.node.inputs[i].empty(); };
  auto weights = std::make_shared<RnnWeights>();
  std::vector<bool> packed(init.node.inputs.size(), false);
  for (int l = 0; l < cfg.layers; ++l) {
    weights->emplace_back();
    for (int d = 0; d < cfg.dirs; ++d) {
      const size_t ih = weight_input(l, d, cfg.dirs, kWeightIh), hh = weight_input(l, d, cfg.dirs, kWeightHh),
                   bih = weight_input(l, d, cfg.dirs, kBiasIh), bhh = weight_input(l, d, cfg.dirs, kBiasHh);
      auto pack = [&](size_t i) {
        packed[i] = true;
        const Tensor& t = *c[i];
        return std::make_shared<const ProjectionWeight>(t.data_as<float>(), t.shape()[0], t.shape()[1],
                                                        Activation::none, nullptr, WeightLayout::out_in, init.precision,
                                                        stored_part(init, i, WeightLayout::out_in));
      };
      weights->back().push_back({pack(ih), pack(hh), present(bih) ? c[bih]->data_as<float>() : nullptr,
                                 present(bhh) ? c[bhh]->data_as<float>() : nullptr});
    }
  }
  return std::make_unique<LowPrecisionRnnKernel>(cfg, std::move(weights), init.precision, std::move(packed));
}

}  // namespace heed::cpu
