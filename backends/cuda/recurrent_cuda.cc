// LSTM, GRU, LSTMCell and GRUCell on the GPU: the input projections of all
// steps in one cuBLAS GEMM per layer and direction, then per step a GEMM on the
// state and one pointwise kernel. PyTorch's weights and gate order, per-sequence
// lengths as in backends/cpu/rnn_cpu.cc (each sequence exactly as if alone).
// ONNX's default GRU (linear_before_reset false) splits the state GEMM in two
// around the reset gate.
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_gemm.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"
#include "ops/recurrent.h"

namespace heed::cuda {
namespace {

using namespace ops::recurrent;

struct RnnConfig {
  bool gru, reset_before;  // reset_before: ONNX's default GRU (linear_before_reset false)
  int64_t hidden, layers;
  int dirs;
  bool batch_first;
};

class RnnInvocation final : public Invocation {
 public:
  RnnInvocation(const RnnConfig& cfg, const NodeShapes& s) : cfg_(cfg) {
    const Shape& x = s.in[kX].shape;
    T_ = cfg.batch_first ? x[1] : x[0];
    B_ = cfg.batch_first ? x[0] : x[1];
    I_ = x[2];
    gates_ = cfg.gru ? 3 : 4;
    const int64_t H = cfg.hidden, width = cfg.dirs * H;
    gx_ = DeviceFloats(size_t(T_ * B_ * gates_ * H));
    gh_ = DeviceFloats(size_t(B_ * gates_ * H));
    h_ = DeviceFloats(size_t(B_ * H));
    if (cfg.reset_before) rh_ = DeviceFloats(size_t(B_ * H));
    c_ = DeviceFloats(cfg.gru ? 0 : size_t(B_ * H));
    if (cfg.layers > 1) {
      layer_out_[0] = DeviceFloats(size_t(T_ * B_ * width));
      layer_out_[1] = DeviceFloats(size_t(T_ * B_ * width));
    }
    has_h0_ = s.in[kH0].present;
    has_c0_ = !cfg.gru && s.in.size() > kC0 && s.in[kC0].present;
    lengths_ = s.in.size() > kLengths && s.in[kLengths].present;
    lengths64_ = lengths_ && s.in[kLengths].dtype == DType::i64;
    outputs_ = s.out.size();
  }

  void run(const Buffers& io) override {
    const int64_t H = cfg_.hidden, width = cfg_.dirs * H;
    const float* in = io.in_as<float>(kX);
    int64_t in_width = I_;
    bool in_batch_first = cfg_.batch_first;
    for (int64_t l = 0; l < cfg_.layers; ++l) {
      const bool last = l == cfg_.layers - 1;
      float* out = last ? io.out_as<float>(0) : layer_out_[l % 2].get();
      for (int d = 0; d < cfg_.dirs; ++d) {
        const size_t w = weight_input(int(l), d, cfg_.dirs, kWeightIh);
        linear_f32(in, T_ * B_, in_width, in_width, io.in_as<float>(w), gates_ * H, io.in_as<float>(w + kBiasIh), gx_.get(),
                   gates_ * H);
        init_state(io, l * cfg_.dirs + d);
        RecurrentStep p{cfg_.gru, d == 1, in_batch_first, last && cfg_.batch_first, cfg_.reset_before, T_, B_, H, 0, width,
                        d * H, lengths_ ? io.in(kLengths) : nullptr, lengths64_};
        for (int64_t step = 0; step < T_; ++step) {
          p.step = step;
          state_projection(p, io.in_as<float>(w + kWeightHh), io.in_as<float>(w + kBiasHh));
          recurrent_step(p, gx_.get(), gh_.get(), io.in_as<float>(w + kBiasHh), h_.get(), cfg_.gru ? nullptr : c_.get(), out,
                         stream());
          check_launch("recurrent step");
        }
        save_state(io, l * cfg_.dirs + d);
      }
      in = out;
      in_width = width;
      in_batch_first = false;
    }
  }

 private:
  // gh = h W_hh^T; with reset_before, the n columns from (r h) instead: r needs
  // the r columns first.
  void state_projection(const RecurrentStep& p, const float* w_hh, const float* b_hh) {
    const int64_t H = cfg_.hidden, G = gates_ * H;
    if (!cfg_.reset_before) return linear_f32(h_.get(), B_, H, H, w_hh, G, nullptr, gh_.get(), G);
    linear_f32(h_.get(), B_, H, H, w_hh, 2 * H, nullptr, gh_.get(), G);
    gru_reset_hidden(p, gx_.get(), gh_.get(), b_hh, h_.get(), rh_.get(), stream());
    check_launch("GRU reset gate");
    linear_f32(rh_.get(), B_, H, H, w_hh + 2 * H * H, H, nullptr, gh_.get() + 2 * H, G);
  }

  void init_state(const Buffers& io, int64_t k) {
    const size_t bytes = size_t(B_ * cfg_.hidden) * sizeof(float);
    copy_or_zero(h_.get(), has_h0_ ? io.in_as<float>(kH0) + k * B_ * cfg_.hidden : nullptr, bytes);
    if (!cfg_.gru) copy_or_zero(c_.get(), has_c0_ ? io.in_as<float>(kC0) + k * B_ * cfg_.hidden : nullptr, bytes);
  }
  void save_state(const Buffers& io, int64_t k) {
    const size_t bytes = size_t(B_ * cfg_.hidden) * sizeof(float);
    if (outputs_ > 1) copy_or_zero(io.out_as<float>(1) + k * B_ * cfg_.hidden, h_.get(), bytes);
    if (outputs_ > 2) copy_or_zero(io.out_as<float>(2) + k * B_ * cfg_.hidden, c_.get(), bytes);
  }
  static void copy_or_zero(float* dst, const float* src, size_t bytes) {
    if (src) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "recurrent state copy");
    else check(cudaMemsetAsync(dst, 0, bytes, stream()), "recurrent state zero");
  }

  RnnConfig cfg_;
  int64_t T_, B_, I_, gates_;
  bool has_h0_, has_c0_, lengths_, lengths64_;
  size_t outputs_;
  DeviceFloats gx_, gh_, h_, c_, rh_, layer_out_[2];
};

// LSTMCell: x, h, c, W_ih, W_hh, b_ih?, b_hh? -> h', c'. GRUCell: x, h, W_ih, W_hh, b_ih?, b_hh? -> h'.
class CellInvocation final : public Invocation {
 public:
  CellInvocation(bool gru, const NodeShapes& s) : gru_(gru) {
    B_ = s.in[0].shape[0], I_ = s.in[0].shape[1];
    w_ = gru ? 2 : 3;
    H_ = s.in[w_].shape[0] / (gru ? 3 : 4);
    gx_ = DeviceFloats(size_t(B_ * s.in[w_].shape[0]));
    gh_ = DeviceFloats(size_t(B_ * s.in[w_].shape[0]));
  }
  void run(const Buffers& io) override {
    const int64_t G = (gru_ ? 3 : 4) * H_;
    linear_f32(io.in_as<float>(0), B_, I_, I_, io.in_as<float>(w_), G, io.in_as<float>(w_ + 2), gx_.get(), G);
    linear_f32(io.in_as<float>(1), B_, H_, H_, io.in_as<float>(w_ + 1), G, nullptr, gh_.get(), G);
    cell_step(gru_, gx_.get(), gh_.get(), io.in_as<float>(w_ + 3), io.in_as<float>(1), gru_ ? nullptr : io.in_as<float>(2),
              io.out_as<float>(0), gru_ ? nullptr : io.out_as<float>(1), B_, H_, stream());
    check_launch("recurrent cell");
  }

 private:
  bool gru_;
  int64_t B_, I_, H_;
  size_t w_;
  DeviceFloats gx_, gh_;
};

}  // namespace

void register_recurrent_kernels() {
  for (const char* op : {"LSTM", "GRU"})
    register_kernel(op, [gru = std::string(op) == "GRU"](const KernelInit& init) {
      RnnConfig cfg{gru, gru && !init.node.attr_int("linear_before_reset"), init.node.attr_int("hidden_size"), init.node.attr_int("num_layers"),
                    init.node.attr_int("bidirectional") ? 2 : 1, bool(init.node.attr_int("batch_first"))};
      return kernel([cfg](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<RnnInvocation>(cfg, s); });
    });
  for (const char* op : {"LSTMCell", "GRUCell"})
    register_kernel(op, [gru = std::string(op) == "GRUCell"](const KernelInit&) {
      return kernel([gru](const NodeShapes& s) -> std::unique_ptr<Invocation> { return std::make_unique<CellInvocation>(gru, s); });
    });
}

}  // namespace heed::cuda
