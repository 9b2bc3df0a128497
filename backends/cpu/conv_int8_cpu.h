#pragma once
// Conv2d in int8 (LoadOptions::precision int8) on oneDNN's int8 convolution:
// the weight quantized per output channel once (symmetric s8, as the
// projections' weights), the input per tensor at run time (u8 with scale
// max / 255 when no element is negative, as after a ReLU; else s8 with
// max|x| / 127), s32 accumulation, then act(acc * s_w * s_x + bias + residual)
// in fp32, fused into the convolution (per-channel output scales, a multiply by
// the run's s_x, bias added, sum, ReLU). An input holding inf or NaN gives NaN
// outputs, an all-zero one the bias.
//
// Without AVX-512 VNNI oneDNN's int8 convolutions add pairs of u8 x s8 products
// in 16 bits (vpmaddubsw), saturating beyond 32767, and halve the weights of an
// s8 input (it runs them as u8 shifted by 128). There the weights take 7 bits
// (levels 63 instead of 127): u8 pairs stay below 2 * 255 * 64, and an s8
// input's kernel gets 2 q, which it halves exactly. Integer sums are then exact
// again, so results are the scheme's, one bit of weight coarser.
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/stored_weight.h"

namespace heed::cpu {

struct ConvGeometry {
  int64_t sh, sw, ph, pw, dh, dw, groups;
  bool relu;
};

// The weight's quantization levels on this CPU: 127 with AVX-512 VNNI, else 63.
int int8_conv_levels();

struct Int8ConvWeight {
  // w: [O, C / groups, kh, kw], fp32; `stored`: its int8 form in a quantized file
  // (channels along axis 0), taken as it is (levels 127 only).
  Int8ConvWeight(const Tensor& w, const StoredWeight* stored, int levels);
  Shape shape;
  int levels;
  std::vector<int8_t> q;     // the same layout
  std::vector<float> scale;  // per output channel
};

std::unique_ptr<Invocation> int8_conv_invocation(const ConvGeometry& g, std::shared_ptr<const Int8ConvWeight> weight,
                                                 const NodeShapes& s);

}  // namespace heed::cpu
