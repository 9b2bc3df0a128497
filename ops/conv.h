#pragma once
// Shared by the convolution family's shape rules and kernels.
#include <cstdint>
#include <utility>
#include <vector>

namespace heed::ops {

namespace conv2d {
// x [N, C, H, W], weight [O, C / groups, kh, kw], bias [O]?, residual [N, O, H', W']?
// y = activation(conv(x) + bias + residual)
constexpr size_t kX = 0, kWeight = 1, kBias = 2, kResidual = 3;
}  // namespace conv2d

// A 1- or 2-value attribute (stride, padding, ...) as (height, width).
inline std::pair<int64_t, int64_t> hw_pair(const std::vector<int64_t>& v) {
  return v.size() == 1 ? std::pair{v[0], v[0]} : std::pair{v[0], v[1]};
}

// PyTorch's output size of a sliding window; ceil mode never starts a window in the right padding.
// Computed in 128 bits so that huge attributes cannot wrap (a result past int64
// saturates, and the shape rule's size check refuses it).
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  using wide = __int128;
  wide span = wide(in) + 2 * wide(p) - wide(d) * (wide(k) - 1) - 1;
  if (span < 0) return 0;
  wide out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= wide(in) + p) --out;
  return out > wide(INT64_MAX) ? INT64_MAX : int64_t(out);
}

}  // namespace heed::ops
