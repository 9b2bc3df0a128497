// LSTMCell and GRUCell: the gate GEMMs on oneDNN (weights read in PyTorch's
// layout), then one fused pointwise pass. For decoders driven one step at a time.
// With LoadOptions::precision bf16 or int8 and constant weights, both gate GEMMs
// run as projections in that precision (projection_lowp.h); the pointwise pass
// stays fp32.
#include <algorithm>
#include <cmath>

#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection.h"
#include "backends/cpu/strided_matmul.h"

namespace heed::cpu {
namespace {

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// The gate weights packed for `precision` (bf16, int8), or none (fp32).
struct LowPrecisionGates {
  std::shared_ptr<const ProjectionWeight> ih, hh;
};

LowPrecisionGates low_precision_gates(const KernelInit& init, size_t w) {
  const Tensor *ih = init.constants[w], *hh = init.constants[w + 1];
  if (init.precision == Precision::f32 || !ih || !hh) return {};
  auto pack = [&](size_t input) {
    const Tensor& t = *init.constants[input];
    return std::make_shared<const ProjectionWeight>(t.data_as<float>(), t.shape()[0], t.shape()[1], Activation::none,
                                                    nullptr, WeightLayout::out_in, init.precision,
                                                    stored_part(init, input, WeightLayout::out_in));
  };
  return {pack(w), pack(w + 1)};
}

// gates_a = x W_ih^T (+ b_ih); gates_b = h W_hh^T (+ b_hh); accumulating both into
// one buffer when `fuse` (LSTM), keeping them apart otherwise (GRU needs W_hn h alone).
class CellGemms {
 public:
  CellGemms(const NodeShapes& s, size_t w, int64_t gates, bool fuse, const LowPrecisionGates& lowp) : fuse_(fuse) {
    B_ = s.in[0].shape[0];
    I_ = s.in[0].shape[1];
    G_ = s.in[w].shape[0];
    H_ = G_ / gates;
    w_ = w;
    a_.resize(size_t(B_ * G_));
    b_.resize(fuse && !lowp.ih ? 0 : a_.size());
    if (lowp.ih) {  // two projections into a_ and b_, summed after when fused
      ih_lowp_ = Projection(lowp.ih, B_, present(s, w + 2));
      hh_lowp_ = Projection(lowp.hh, B_, present(s, w + 3));
      return;
    }
    View4 out = View4::matrix(B_, G_, G_);
    ih_ = StridedMatmul(View4::matrix(B_, I_, I_), View4::transposed(I_, G_, I_), out, 1.f, false, present(s, w + 2));
    hh_ = StridedMatmul(View4::matrix(B_, H_, H_), View4::transposed(H_, G_, H_), out, 1.f, fuse, present(s, w + 3));
  }
  size_t workspace_bytes() const { return std::max(ih_lowp_.workspace_bytes(), hh_lowp_.workspace_bytes()); }
  void run(const Buffers& io, size_t h_input) {
    if (ih_lowp_.valid()) {
      ih_lowp_.run(io.in_as<float>(0), a_.data(), io.in_as<float>(w_ + 2), io.workspace);
      hh_lowp_.run(io.in_as<float>(h_input), b_.data(), io.in_as<float>(w_ + 3), io.workspace);
      if (fuse_)
        for (size_t i = 0; i < a_.size(); ++i) a_[i] += b_[i];
      return;
    }
    ih_.run(io.in_as<float>(0), io.in_as<float>(w_), a_.data(), io.in_as<float>(w_ + 2));
    hh_.run(io.in_as<float>(h_input), io.in_as<float>(w_ + 1), fuse_ ? a_.data() : b_.data(), io.in_as<float>(w_ + 3));
  }
  int64_t B_, I_, G_, H_;
  std::vector<float> a_, b_;

 private:
  bool fuse_;
  size_t w_;
  StridedMatmul ih_, hh_;
  Projection ih_lowp_, hh_lowp_;
};

class LstmCell final : public Invocation {
 public:
  LstmCell(const NodeShapes& s, const LowPrecisionGates& lowp) : g_(s, 3, 4, true, lowp) {}
  size_t workspace_bytes() const override { return g_.workspace_bytes(); }
  void run(const Buffers& io) override {
    g_.run(io, 1);
    const float* c = io.in_as<float>(2);
    float *h_out = io.out_as<float>(0), *c_out = io.out_as<float>(1);
    const int64_t H = g_.H_;
    for (int64_t b = 0; b < g_.B_; ++b) {
      const float* gates = g_.a_.data() + b * 4 * H;  // PyTorch order: i, f, g, o
      for (int64_t j = 0; j < H; ++j) {
        float i = sigmoid(gates[j]), f = sigmoid(gates[H + j]), g = std::tanh(gates[2 * H + j]),
              o = sigmoid(gates[3 * H + j]);
        float cn = f * c[b * H + j] + i * g;
        c_out[b * H + j] = cn;
        h_out[b * H + j] = o * std::tanh(cn);
      }
    }
  }

 private:
  CellGemms g_;
};

class GruCell final : public Invocation {
 public:
  GruCell(const NodeShapes& s, const LowPrecisionGates& lowp) : g_(s, 2, 3, false, lowp) {}
  size_t workspace_bytes() const override { return g_.workspace_bytes(); }
  void run(const Buffers& io) override {
    g_.run(io, 1);
    const float* h = io.in_as<float>(1);
    float* h_out = io.out_as<float>(0);
    const int64_t H = g_.H_;
    for (int64_t b = 0; b < g_.B_; ++b) {
      const float *gi = g_.a_.data() + b * 3 * H, *gh = g_.b_.data() + b * 3 * H;  // r, z, n
      for (int64_t j = 0; j < H; ++j) {
        float r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
        float n = std::tanh(gi[2 * H + j] + r * gh[2 * H + j]);
        h_out[b * H + j] = (1.f - z) * n + z * h[b * H + j];
      }
    }
  }

 private:
  CellGemms g_;
};

}  // namespace

void register_rnn_cell_kernels() {
  // Both gate weights, constant, pack from their stored forms (low_precision_gates).
  auto packs_stored_from = [](size_t w) {
    return [w](const KernelInit& init, size_t input) {
      return (input == w || input == w + 1) && init.constants[w] && init.constants[w + 1] &&
             stored_part(init, input, WeightLayout::out_in).has_value();
    };
  };
  register_kernel("LSTMCell", [](const KernelInit& init) {
    const LowPrecisionGates lowp = low_precision_gates(init, 3);
    return kernel([lowp](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<LstmCell>(s, lowp); },
                  lowp.ih ? init.precision : Precision::f32, lowp.ih ? std::vector<int>{3, 4} : std::vector<int>{});
  }, packs_stored_from(3));
  register_kernel("GRUCell", [](const KernelInit& init) {
    const LowPrecisionGates lowp = low_precision_gates(init, 2);
    return kernel([lowp](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<GruCell>(s, lowp); },
                  lowp.ih ? init.precision : Precision::f32, lowp.ih ? std::vector<int>{2, 3} : std::vector<int>{});
  }, packs_stored_from(2));
}

}  // namespace heed::cpu
