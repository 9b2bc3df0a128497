// LSTM and GRU on oneDNN's RNN primitives. PyTorch's weights are mapped once, at
// load, onto oneDNN's layout (ldgoi) and gate order (LSTM: i f g o is oneDNN's
// i f c o; GRU: PyTorch's r z n becomes oneDNN's u r c with u = z, and PyTorch's
// GRU is oneDNN's linear-before-reset GRU, whose 4th bias is b_hn; ONNX's
// default GRU, linear_before_reset false, is oneDNN's plain GRU, whose 3 biases
// are the sums b_i + b_h).
//
// Per-sequence lengths: sequences are grouped by length (rnn_sequences.h) and
// each group runs on its own primitive over exactly its steps; padded positions
// of y are zero, as PyTorch's packed sequences give. With LoadOptions::precision
// bf16 or int8, rnn_lowp_cpu.cc runs the node instead.
#include <algorithm>
#include <cstring>
#include <map>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection.h"
#include "backends/cpu/rnn_sequences.h"
#include "ops/recurrent.h"

namespace heed::cpu {
namespace {

using namespace ops::recurrent;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

RnnConfig rnn_config(bool lstm, const ir::Node& n) {
  RnnConfig cfg{lstm, n.attr_int("hidden_size"), n.attr_int("num_layers"), n.attr_int("bidirectional") ? 2 : 1,
                bool(n.attr_int("batch_first")), n.where()};
  if (!lstm) cfg.linear_before_reset = n.attr_int("linear_before_reset");
  return cfg;
}

// One layer's weights in oneDNN's plain layouts, for both directions.
struct LayerWeights {
  int64_t input = 0;
  std::vector<float> layer, iter, bias;  // {1, D, I, G, H} ldgoi, {1, D, H, G, H} ldgoi, {1, D, G', H} ldgo
};

// PyTorch gate g of a GRU sits at oneDNN gate gru_gate[g].
constexpr int kGruGate[3] = {1, 0, 2};  // r -> 1, z -> 0 (u), n -> 2

std::vector<LayerWeights> map_weights(const RnnConfig& cfg, const KernelInit& init) {
  std::vector<LayerWeights> out;
  const int64_t H = cfg.hidden, G = cfg.gates(), D = cfg.dirs;
  for (int l = 0; l < cfg.layers; ++l) {
    LayerWeights w;
    const Tensor* ih0 = init.constants[weight_input(l, 0, cfg.dirs, kWeightIh)];
    if (!ih0) throw Error(fmt::format("{}: the weights must be parameters (constant), not computed values", cfg.where));
    w.input = ih0->shape()[1];
    w.layer.assign(size_t(D * w.input * G * H), 0.f);
    w.iter.assign(size_t(D * H * G * H), 0.f);
    w.bias.assign(size_t(D * cfg.bias_gates() * H), 0.f);
    for (int d = 0; d < cfg.dirs; ++d) {
      const Tensor* ih = init.constants[weight_input(l, d, cfg.dirs, kWeightIh)];
      const Tensor* hh = init.constants[weight_input(l, d, cfg.dirs, kWeightHh)];
      const Tensor* bih = init.constants[weight_input(l, d, cfg.dirs, kBiasIh)];
      const Tensor* bhh = init.constants[weight_input(l, d, cfg.dirs, kBiasHh)];
      if (!ih || !hh) throw Error(fmt::format("{}: the weights must be parameters (constant)", cfg.where));
      for (int64_t g = 0; g < G; ++g) {
        int64_t og = cfg.lstm ? g : kGruGate[g];
        // PyTorch [G*H, I] is [g][o][i]: ldgoi wants [d][g][o][i] with oneDNN's gate order.
        std::memcpy(w.layer.data() + ((d * G + og) * H) * w.input, ih->data_as<float>() + g * H * w.input,
                    size_t(H * w.input) * sizeof(float));
        std::memcpy(w.iter.data() + ((d * G + og) * H) * H, hh->data_as<float>() + g * H * H,
                    size_t(H * H) * sizeof(float));
        for (int64_t o = 0; o < H; ++o) {
          float bi = bih ? bih->data_as<float>()[g * H + o] : 0.f, bh = bhh ? bhh->data_as<float>()[g * H + o] : 0.f;
          float* b = w.bias.data() + (d * cfg.bias_gates()) * H;
          if (cfg.lstm || g < 2 || !cfg.linear_before_reset) b[og * H + o] = bi + bh;
          else {  // n: b_in with the candidate, b_hn inside the reset product
            b[2 * H + o] = bi;
            b[3 * H + o] = bh;
          }
        }
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

// The primitives for one (steps, batch) shape, with weights reordered for them.
struct RunSet {
  struct Layer {
    dnnl::primitive prim;
    memory src, dst, src_iter, src_iter_c, dst_iter, dst_iter_c, weights_layer, weights_iter, bias, scratch;
    std::unordered_map<int, memory> args;
  };
  std::vector<Layer> layers;
};

class RnnInvocation final : public Invocation {
 public:
  RnnInvocation(const RnnConfig& cfg, std::shared_ptr<const std::vector<LayerWeights>> weights, const NodeShapes& s)
      : cfg_(cfg), weights_(std::move(weights)), stream_(cpu_engine()), seq_(cfg, s) {
    const int64_t T = seq_.T, B = seq_.B, DH = cfg.dirs * cfg.hidden, states = cfg.layers * cfg.dirs * B * cfg.hidden;
    xs_.resize(size_t(T * B * std::max(seq_.I, DH)));
    ys_[0].resize(size_t(T * B * DH));
    ys_[1].resize(ys_[0].size());
    h0_.assign(size_t(states), 0.f);
    c0_.assign(size_t(states), 0.f);
    hn_.resize(size_t(states));
    cn_.resize(size_t(states));
    if (!seq_.has_lengths()) run_set(T, B);  // build the only shape now, not during the first run
  }

  void run(const Buffers& io) override {
    const int64_t H = cfg_.hidden, DH = cfg_.dirs * H;
    seq_.make_groups(io, groups_);
    if (seq_.has_lengths()) std::memset(io.out(0), 0, size_t(seq_.T * seq_.B * DH) * sizeof(float));
    for (auto& [len, idx] : groups_) {
      const int64_t n = int64_t(idx.size());
      RunSet& rs = run_set(len, n);
      seq_.gather_x(io.in_as<float>(kX), len, idx, xs_.data());
      seq_.gather_states(io.in_as<float>(kH0), h0_.data(), idx);
      seq_.gather_states(io.in_as<float>(kC0), c0_.data(), idx);
      const float* src = xs_.data();
      for (int l = 0; l < cfg_.layers; ++l) {
        RunSet::Layer& L = rs.layers[size_t(l)];
        float* dst = ys_[l % 2].data();
        set(L.src, src);
        set(L.dst, dst);
        set(L.src_iter, h0_.data() + l * cfg_.dirs * n * H);
        set(L.dst_iter, hn_.data() + l * cfg_.dirs * n * H);
        if (cfg_.lstm) {
          set(L.src_iter_c, c0_.data() + l * cfg_.dirs * n * H);
          set(L.dst_iter_c, cn_.data() + l * cfg_.dirs * n * H);
        }
        L.prim.execute(stream_, L.args);
        src = dst;
      }
      seq_.scatter(io, src, hn_.data(), cn_.data(), len, idx);
    }
  }

 private:
  static void set(memory& m, const float* p) { m.set_data_handle(const_cast<float*>(p)); }

  RunSet& run_set(int64_t steps, int64_t batch) {
    auto key = std::make_pair(steps, batch);
    auto it = sets_.find(key);
    if (it != sets_.end()) return it->second;
    RunSet rs;
    const int64_t H = cfg_.hidden, D = cfg_.dirs, G = cfg_.gates();
    auto dir = D == 2 ? dnnl::rnn_direction::bidirectional_concat : dnnl::rnn_direction::unidirectional_left2right;
    for (int l = 0; l < cfg_.layers; ++l) {
      const LayerWeights& w = (*weights_)[size_t(l)];
      memory::desc src({steps, batch, w.input}, dt::f32, tag::tnc), dst({steps, batch, D * H}, dt::f32, tag::tnc);
      memory::desc iter({1, D, batch, H}, dt::f32, tag::ldnc);
      memory::desc wl({1, D, w.input, G, H}, dt::f32, tag::any), wi({1, D, H, G, H}, dt::f32, tag::any);
      memory::desc bias({1, D, cfg_.bias_gates(), H}, dt::f32, tag::ldgo);
      RunSet::Layer L;
      dnnl::primitive_desc_base pd_base;
      memory::desc wl_md, wi_md, scratch_md;
      if (cfg_.lstm) {
        dnnl::lstm_forward::primitive_desc pd(
            dnnl::lstm_forward::desc(dnnl::prop_kind::forward_inference, dir, src, iter, iter, wl, wi, bias, dst, iter,
                                     iter),
            scratchpad_attr(), cpu_engine());
        L.prim = dnnl::lstm_forward(pd);
        wl_md = pd.weights_layer_desc();
        wi_md = pd.weights_iter_desc();
        scratch_md = pd.scratchpad_desc();
      } else if (!cfg_.linear_before_reset) {
        dnnl::gru_forward::primitive_desc pd(
            dnnl::gru_forward::desc(dnnl::prop_kind::forward_inference, dir, src, iter, wl, wi, bias, dst, iter),
            scratchpad_attr(), cpu_engine());
        L.prim = dnnl::gru_forward(pd);
        wl_md = pd.weights_layer_desc();
        wi_md = pd.weights_iter_desc();
        scratch_md = pd.scratchpad_desc();
      } else {
        dnnl::lbr_gru_forward::primitive_desc pd(
            dnnl::lbr_gru_forward::desc(dnnl::prop_kind::forward_inference, dir, src, iter, wl, wi, bias, dst, iter),
            scratchpad_attr(), cpu_engine());
        L.prim = dnnl::lbr_gru_forward(pd);
        wl_md = pd.weights_layer_desc();
        wi_md = pd.weights_iter_desc();
        scratch_md = pd.scratchpad_desc();
      }
      L.weights_layer = reordered(w.layer, memory::desc({1, D, w.input, G, H}, dt::f32, tag::ldgoi), wl_md);
      L.weights_iter = reordered(w.iter, memory::desc({1, D, H, G, H}, dt::f32, tag::ldgoi), wi_md);
      L.bias = memory(bias, cpu_engine(), const_cast<float*>(w.bias.data()));
      L.src = memory(src, cpu_engine(), DNNL_MEMORY_NONE);
      L.dst = memory(dst, cpu_engine(), DNNL_MEMORY_NONE);
      L.src_iter = memory(iter, cpu_engine(), DNNL_MEMORY_NONE);
      L.dst_iter = memory(iter, cpu_engine(), DNNL_MEMORY_NONE);
      L.args = {{DNNL_ARG_SRC_LAYER, L.src}, {DNNL_ARG_DST_LAYER, L.dst}, {DNNL_ARG_SRC_ITER, L.src_iter},
                {DNNL_ARG_DST_ITER, L.dst_iter}, {DNNL_ARG_WEIGHTS_LAYER, L.weights_layer},
                {DNNL_ARG_WEIGHTS_ITER, L.weights_iter}, {DNNL_ARG_BIAS, L.bias}};
      if (cfg_.lstm) {
        L.src_iter_c = memory(iter, cpu_engine(), DNNL_MEMORY_NONE);
        L.dst_iter_c = memory(iter, cpu_engine(), DNNL_MEMORY_NONE);
        L.args[DNNL_ARG_SRC_ITER_C] = L.src_iter_c;
        L.args[DNNL_ARG_DST_ITER_C] = L.dst_iter_c;
      }
      if (scratch_md.get_size()) L.args[DNNL_ARG_SCRATCHPAD] = L.scratch = memory(scratch_md, cpu_engine());
      rs.layers.push_back(std::move(L));
    }
    return sets_.emplace(key, std::move(rs)).first->second;
  }

  memory reordered(const std::vector<float>& plain, const memory::desc& plain_md, const memory::desc& want) {
    memory src(plain_md, cpu_engine(), const_cast<float*>(plain.data())), dst(want, cpu_engine());
    dnnl::reorder(src, dst).execute(stream_, src, dst);
    stream_.wait();
    return dst;
  }

  RnnConfig cfg_;
  std::shared_ptr<const std::vector<LayerWeights>> weights_;
  dnnl::stream stream_;
  SequenceBatch seq_;
  std::vector<float> xs_, ys_[2], h0_, c0_, hn_, cn_;
  SequenceGroups groups_;
  std::map<std::pair<int64_t, int64_t>, RunSet> sets_;
};

}  // namespace

void register_rnn_kernels() {
  for (bool lstm : {true, false})
    register_kernel(
        lstm ? "LSTM" : "GRU",
        [lstm](const KernelInit& init) -> std::unique_ptr<Kernel> {
          const RnnConfig cfg = rnn_config(lstm, init.node);
          if (std::unique_ptr<Kernel> lowp = low_precision_rnn_kernel(cfg, init)) return lowp;
          auto weights = std::make_shared<const std::vector<LayerWeights>>(map_weights(cfg, init));
          return kernel([cfg, weights](const NodeShapes& s) -> std::unique_ptr<Invocation> {
            return std::make_unique<RnnInvocation>(cfg, weights, s);
          });
        },
        [lstm](const KernelInit& init, size_t input) {  // the weights of the low-precision kernel
          const size_t which = input < kFirstWeight ? 99 : (input - kFirstWeight) % kWeightsPerDirection;
          return (which == size_t(kWeightIh) || which == size_t(kWeightHh)) &&
                 low_precision_rnn_takes(rnn_config(lstm, init.node), init) &&
                 stored_part(init, input, WeightLayout::out_in).has_value();
        });
}

}  // namespace heed::cpu
