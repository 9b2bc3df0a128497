#pragma once
// What the LSTM and GRU kernels share (rnn_cpu.cc: oneDNN's RNN primitives in
// fp32; rnn_lowp_cpu.cc: bf16/int8 projections): the node's configuration and
// the batch's sequences grouped by length, each group run over exactly its own
// steps (so a padded batch gives every sequence what it gets alone, the reverse
// direction starting at its own last step), with the copies of a group's inputs
// and states in and of its outputs back.
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/backend.h"
#include "ops/recurrent.h"

namespace heed::cpu {

struct RnnConfig {
  bool lstm;
  int64_t hidden, layers;
  int dirs;
  bool batch_first;
  std::string where;
  bool linear_before_reset = true;  // GRU
  int gates() const { return lstm ? 4 : 3; }
  int bias_gates() const { return lstm || linear_before_reset ? 4 : 3; }  // LBR GRU: 3 gates and b_hn
};

// Sequences of one length, and the batch rows that have it.
using SequenceGroups = std::vector<std::pair<int64_t, std::vector<int64_t>>>;

class SequenceBatch {
 public:
  SequenceBatch(const RnnConfig& cfg, const NodeShapes& s) : cfg_(cfg) {
    using namespace ops::recurrent;
    const Shape& x = s.in[kX].shape;
    T = x[cfg.batch_first ? 1 : 0];
    B = x[cfg.batch_first ? 0 : 1];
    I = x[2];
    lengths_ = s.in.size() > kLengths && s.in[kLengths].present ? (s.in[kLengths].dtype == DType::i32 ? 1 : 2) : 0;
    outputs = s.out.size();
  }
  int64_t T, B, I;
  size_t outputs;
  bool has_lengths() const { return lengths_ != 0; }

  // Longest first; one group of everything without lengths (made once).
  void make_groups(const Buffers& io, SequenceGroups& groups) const {
    if (!lengths_) {
      if (groups.empty()) {
        groups.push_back({T, {}});
        for (int64_t b = 0; b < B; ++b) groups[0].second.push_back(b);
      }
      return;
    }
    groups.clear();
    std::map<int64_t, std::vector<int64_t>, std::greater<>> by_len;
    for (int64_t b = 0; b < B; ++b) {
      const size_t at = ops::recurrent::kLengths;
      int64_t len = lengths_ == 1 ? io.in_as<int32_t>(at)[b] : io.in_as<int64_t>(at)[b];
      if (len < 1 || len > T)
        throw Error(fmt::format("{}: length {} of sequence {} is outside [1, {}]", cfg_.where, len, b, T));
      by_len[len].push_back(b);
    }
    for (auto& [len, idx] : by_len) groups.push_back({len, std::move(idx)});
  }
  // Where step t of sequence b starts in a [T, B, width] (or batch-first) tensor.
  int64_t offset(int64_t t, int64_t b, int64_t width) const { return (cfg_.batch_first ? b * T + t : t * B + b) * width; }
  // The group's x as [len, n, I].
  void gather_x(const float* x, int64_t len, const std::vector<int64_t>& idx, float* xs) const {
    const int64_t n = int64_t(idx.size());
    for (int64_t t = 0; t < len; ++t)
      for (int64_t j = 0; j < n; ++j)
        std::memcpy(xs + (t * n + j) * I, x + offset(t, idx[size_t(j)], I), size_t(I) * sizeof(float));
  }
  // The group's rows of states [L*D, B, H] (zeros without `src`) as [L*D, n, H].
  void gather_states(const float* src, float* dst, const std::vector<int64_t>& idx) const {
    const int64_t H = cfg_.hidden, n = int64_t(idx.size());
    for (int64_t s = 0; s < cfg_.layers * cfg_.dirs; ++s)
      for (int64_t j = 0; j < n; ++j) {
        float* d = dst + (s * n + j) * H;
        if (src) std::memcpy(d, src + (s * B + idx[size_t(j)]) * H, size_t(H) * sizeof(float));
        else std::fill(d, d + H, 0.f);
      }
  }
  // The group's y [len, n, D*H] and final states [L*D, n, H] into the outputs.
  void scatter(const Buffers& io, const float* ys, const float* hn, const float* cn, int64_t len,
               const std::vector<int64_t>& idx) const {
    const int64_t H = cfg_.hidden, DH = cfg_.dirs * H, n = int64_t(idx.size());
    float* y = io.out_as<float>(0);
    for (int64_t t = 0; t < len; ++t)
      for (int64_t j = 0; j < n; ++j)
        std::memcpy(y + offset(t, idx[size_t(j)], DH), ys + (t * n + j) * DH, size_t(DH) * sizeof(float));
    for (size_t k = 1; k < outputs; ++k) {
      const float* st = k == 1 ? hn : cn;
      float* out = io.out_as<float>(k);
      for (int64_t s = 0; s < cfg_.layers * cfg_.dirs; ++s)
        for (int64_t j = 0; j < n; ++j)
          std::memcpy(out + (s * B + idx[size_t(j)]) * H, st + (s * n + j) * H, size_t(H) * sizeof(float));
    }
  }

 private:
  RnnConfig cfg_;
  int lengths_ = 0;  // 0: none; 1: i32; 2: i64
};

// The low-precision kernel (rnn_lowp_cpu.cc) when LoadOptions::precision asks for
// one and this node can take it (PyTorch's GRU form; constant weights), else null.
bool low_precision_rnn_takes(const RnnConfig& cfg, const KernelInit& init);
std::unique_ptr<Kernel> low_precision_rnn_kernel(const RnnConfig& cfg, const KernelInit& init);

}  // namespace heed::cpu
