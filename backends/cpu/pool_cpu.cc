// MaxPool2d and AvgPool2d as PyTorch computes them (a NaN in a window wins the
// max; ceil mode's overhang past the right padding is never counted in an
// average), on plain NCHW or the backend's channel-blocked layout; and
// AdaptiveAvgPool2d as PyTorch defines it (bin i covers
// [floor(i * H / out), ceil((i + 1) * H / out))), which any output size needs,
// e.g. Show-Attend-Tell's 7x7 -> 14x14.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

struct PoolGeometry {
  int64_t k[2], s[2], p[2];
  bool max, include_pad;
};

// One output plane of channel group `g` ([H, W, B] floats in, [OH, OW, B] out):
// B lanes (channels) side by side, 1 for plain NCHW.
template <int B>
void pool_plane(const float* in, float* out, int64_t H, int64_t W, int64_t OH, int64_t OW, const PoolGeometry& g) {
  for (int64_t i = 0; i < OH; ++i)
    for (int64_t j = 0; j < OW; ++j) {
      int64_t h0 = i * g.s[0] - g.p[0], w0 = j * g.s[1] - g.p[1];
      int64_t h1 = std::min(h0 + g.k[0], H + g.p[0]), w1 = std::min(w0 + g.k[1], W + g.p[1]);
      int64_t padded_count = (h1 - h0) * (w1 - w0);
      h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
      h1 = std::min(h1, H), w1 = std::min(w1, W);
      float acc[B];
      for (int b = 0; b < B; ++b) acc[b] = g.max ? -std::numeric_limits<float>::infinity() : 0.f;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const float* v = in + (h * W + w) * B;
          for (int b = 0; b < B; ++b)
            acc[b] = g.max ? (v[b] > acc[b] || std::isnan(v[b]) ? v[b] : acc[b]) : acc[b] + v[b];
        }
      float divisor = float(g.include_pad ? padded_count : (h1 - h0) * (w1 - w0));
      for (int b = 0; b < B; ++b) out[(i * OW + j) * B + b] = g.max ? acc[b] : acc[b] / divisor;
    }
}

template <int B>
void pool(const float* in, float* out, int64_t groups, int64_t H, int64_t W, int64_t OH, int64_t OW,
          const PoolGeometry& g) {
#pragma omp parallel for if (groups * H * W * B > 16384)
  for (int64_t c = 0; c < groups; ++c) pool_plane<B>(in + c * H * W * B, out + c * OH * OW * B, H, W, OH, OW, g);
}

}  // namespace

void register_pool_kernels() {
  for (bool max : {true, false})
    register_kernel(max ? "MaxPool2d" : "AvgPool2d", [max](const KernelInit& init) {
      const ir::Node& n = init.node;
      auto k = ops::hw_pair(n.attr_ints("kernel_size"));
      auto st = n.attr_ints("stride").empty() ? k : ops::hw_pair(n.attr_ints("stride"));
      auto p = ops::hw_pair(n.attr_ints("padding"));
      PoolGeometry g{{k.first, k.second}, {st.first, st.second}, {p.first, p.second}, max,
                     n.attr_int("count_include_pad") != 0};
      return kernel([g](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape &x = s.in[0].shape, &y = s.out[0].shape;
        int block = s.in[0].channel_block;
        if (block != s.out[0].channel_block)
          throw Error(fmt::format("pooling between layouts {} and {} is not supported", block, s.out[0].channel_block));
        int64_t groups = x[0] * (block ? (x[1] + block - 1) / block : x[1]);
        return invocation([=](const Buffers& io) {
          const float* in = io.in_as<float>(0);
          float* out = io.out_as<float>(0);
          if (block == 16) pool<16>(in, out, groups, x[2], x[3], y[2], y[3], g);
          else if (block == 8) pool<8>(in, out, groups, x[2], x[3], y[2], y[3], g);
          else pool<1>(in, out, groups, x[2], x[3], y[2], y[3], g);
        });
      });
    });
  register_kernel("AdaptiveAvgPool2d", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const Shape &x = s.in[0].shape, &y = s.out[0].shape;
      int64_t planes = x[0] * x[1], H = x[2], W = x[3], OH = y[2], OW = y[3];
      return invocation([=](const Buffers& io) {
        const float* in = io.in_as<float>(0);
        float* out = io.out_as<float>(0);
#pragma omp parallel for if (planes * H * W > 16384)
        for (int64_t p = 0; p < planes; ++p)
          for (int64_t i = 0; i < OH; ++i) {
            int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
            for (int64_t j = 0; j < OW; ++j) {
              int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
              float sum = 0.f;
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) sum += in[(p * H + h) * W + w];
              out[(p * OH + i) * OW + j] = sum / float((h1 - h0) * (w1 - w0));
            }
          }
      });
    });
  });
}

}  // namespace heed::cpu
