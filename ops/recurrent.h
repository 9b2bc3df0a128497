#pragma once
// Input positions of the recurrent ops, shared by their shape rules and kernels.
#include <cstddef>

namespace heed::ops::recurrent {

// LSTM / GRU: x, h0?, c0? (LSTM only; GRU leaves it ""), lengths?, then for each
// layer k and direction d (forward, then reverse when bidirectional), PyTorch's
// weight_ih_l{k}[_reverse], weight_hh_l{k}..., bias_ih..., bias_hh... (biases optional).
constexpr size_t kX = 0, kH0 = 1, kC0 = 2, kLengths = 3, kFirstWeight = 4, kWeightsPerDirection = 4;

inline size_t weight_input(int layer, int direction, int directions, int which) {
  return kFirstWeight + (size_t(layer) * size_t(directions) + size_t(direction)) * kWeightsPerDirection + size_t(which);
}
constexpr int kWeightIh = 0, kWeightHh = 1, kBiasIh = 2, kBiasHh = 3;

// LSTMCell: x, h, c, weight_ih, weight_hh, bias_ih?, bias_hh?  ->  h', c'
// GRUCell:  x, h, weight_ih, weight_hh, bias_ih?, bias_hh?     ->  h'
namespace cell {
constexpr size_t kX = 0, kH = 1;
}

}  // namespace heed::ops::recurrent
