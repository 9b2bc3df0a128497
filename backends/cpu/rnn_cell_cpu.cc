// LSTMCell and GRUCell: the gate GEMMs on oneDNN (weights read in PyTorch's
// layout), then one fused pointwise pass. For decoders driven one step at a time.
#include <cmath>

#include "backends/cpu/attention_masks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/strided_matmul.h"

namespace heed::cpu {
namespace {

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// gates_a = x W_ih^T (+ b_ih); gates_b = h W_hh^T (+ b_hh); accumulating both into
// one buffer when `fuse` (LSTM), keeping them apart otherwise (GRU needs W_hn h alone).
class CellGemms {
 public:
  CellGemms(const NodeShapes& s, size_t w, int64_t gates, bool fuse) : fuse_(fuse) {
    B_ = s.in[0].shape[0];
    I_ = s.in[0].shape[1];
    G_ = s.in[w].shape[0];
    H_ = G_ / gates;
    w_ = w;
    a_.resize(size_t(B_ * G_));
    if (!fuse) b_.resize(a_.size());
    View4 out = View4::matrix(B_, G_, G_);
    ih_ = StridedMatmul(View4::matrix(B_, I_, I_), View4::transposed(I_, G_, I_), out, 1.f, false, present(s, w + 2));
    hh_ = StridedMatmul(View4::matrix(B_, H_, H_), View4::transposed(H_, G_, H_), out, 1.f, fuse, present(s, w + 3));
  }
  void run(const Buffers& io, size_t h_input) {
    ih_.run(io.in_as<float>(0), io.in_as<float>(w_), a_.data(), io.in_as<float>(w_ + 2));
    hh_.run(io.in_as<float>(h_input), io.in_as<float>(w_ + 1), fuse_ ? a_.data() : b_.data(), io.in_as<float>(w_ + 3));
  }
  int64_t B_, I_, G_, H_;
  std::vector<float> a_, b_;

 private:
  bool fuse_;
  size_t w_;
  StridedMatmul ih_, hh_;
};

class LstmCell final : public Invocation {
 public:
  explicit LstmCell(const NodeShapes& s) : g_(s, 3, 4, true) {}
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
  explicit GruCell(const NodeShapes& s) : g_(s, 2, 3, false) {}
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
  register_kernel("LSTMCell", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<LstmCell>(s); });
  });
  register_kernel("GRUCell", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<GruCell>(s); });
  });
}

}  // namespace heed::cpu
