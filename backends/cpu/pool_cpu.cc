// MaxPool2d and AvgPool2d as PyTorch computes them (a NaN in a window wins the
// max; ceil mode's overhang past the right padding is never counted in an
// average), on plain NCHW or the backend's channel-blocked layout: oneDNN's
// pooling where it gives exactly that (20x faster than the loop below on
// ResNet's first pool), heed's own loop where it does not (a max over input
// holding a NaN, found by one scan; an average over ceil mode's overhang;
// padding beyond what oneDNN takes); and
// AdaptiveAvgPool2d as PyTorch defines it (bin i covers
// [floor(i * H / out), ceil((i + 1) * H / out))), which any output size needs,
// e.g. Show-Attend-Tell's 7x7 -> 14x14.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

struct PoolGeometry {
  int64_t k[2], s[2], p[2];
  bool max, include_pad;
  int64_t d[2] = {1, 1};  // dilation (max pools)
  bool dilated() const { return d[0] != 1 || d[1] != 1; }
};

// A dilated max pool's plane: window element (a, b) of output (i, j) sits at
// (i * s - p + a * d, j * s - p + b * d); those outside the input are padding.
template <int B>
void dilated_max_plane(const float* in, float* out, int64_t H, int64_t W, int64_t OH, int64_t OW,
                       const PoolGeometry& g) {
  for (int64_t i = 0; i < OH; ++i)
    for (int64_t j = 0; j < OW; ++j) {
      float acc[B];
      for (int b = 0; b < B; ++b) acc[b] = -std::numeric_limits<float>::infinity();
      for (int64_t a = 0; a < g.k[0]; ++a) {
        const int64_t h = i * g.s[0] - g.p[0] + a * g.d[0];
        if (h < 0 || h >= H) continue;
        for (int64_t c = 0; c < g.k[1]; ++c) {
          const int64_t w = j * g.s[1] - g.p[1] + c * g.d[1];
          if (w < 0 || w >= W) continue;
          const float* v = in + (h * W + w) * B;
          for (int b = 0; b < B; ++b) acc[b] = v[b] > acc[b] || v[b] != v[b] ? v[b] : acc[b];
        }
      }
      for (int b = 0; b < B; ++b) out[(i * OW + j) * B + b] = acc[b];
    }
}

// One output plane of channel group `g` ([H, W, B] floats in, [OH, OW, B] out):
// B lanes (channels) side by side, 1 for plain NCHW. Max and B are compile-time,
// so the lane loop vectorizes (a NaN test is an unordered compare).
template <int B, bool Max>
void pool_plane(const float* in, float* out, int64_t H, int64_t W, int64_t OH, int64_t OW, const PoolGeometry& g) {
  for (int64_t i = 0; i < OH; ++i)
    for (int64_t j = 0; j < OW; ++j) {
      int64_t h0 = i * g.s[0] - g.p[0], w0 = j * g.s[1] - g.p[1];
      int64_t h1 = std::min(h0 + g.k[0], H + g.p[0]), w1 = std::min(w0 + g.k[1], W + g.p[1]);
      int64_t padded_count = (h1 - h0) * (w1 - w0);
      h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
      h1 = std::min(h1, H), w1 = std::min(w1, W);
      float acc[B];
      for (int b = 0; b < B; ++b) acc[b] = Max ? -std::numeric_limits<float>::infinity() : 0.f;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const float* v = in + (h * W + w) * B;
          for (int b = 0; b < B; ++b) {
            if constexpr (Max) acc[b] = v[b] > acc[b] || v[b] != v[b] ? v[b] : acc[b];
            else acc[b] += v[b];
          }
        }
      const float divisor = Max ? 1.f : float(g.include_pad ? padded_count : (h1 - h0) * (w1 - w0));
      for (int b = 0; b < B; ++b) out[(i * OW + j) * B + b] = Max ? acc[b] : acc[b] / divisor;
    }
}

template <int B>
void pool(const float* in, float* out, int64_t groups, int64_t H, int64_t W, int64_t OH, int64_t OW,
          const PoolGeometry& g) {
#pragma omp parallel for if (groups * H * W * B > 16384)
  for (int64_t c = 0; c < groups; ++c) {
    if (g.dilated()) dilated_max_plane<B>(in + c * H * W * B, out + c * OH * OW * B, H, W, OH, OW, g);
    else if (g.max) pool_plane<B, true>(in + c * H * W * B, out + c * OH * OW * B, H, W, OH, OW, g);
    else pool_plane<B, false>(in + c * H * W * B, out + c * OH * OW * B, H, W, OH, OW, g);
  }
}

// Over all threads: ResNet's first pool scans 26 MB of fp32 a batch of 8.
bool has_nan(const float* x, int64_t n) {
  constexpr int64_t kChunk = int64_t(1) << 16;
  int found = 0;
#pragma omp parallel for reduction(| : found) if (n > 4 * kChunk)
  for (int64_t c = 0; c < n; c += kChunk) {
    int in_chunk = 0;
    const int64_t end = std::min(n, c + kChunk);
#pragma omp simd reduction(| : in_chunk)
    for (int64_t i = c; i < end; ++i) in_chunk |= x[i] != x[i];
    found |= in_chunk;
  }
  return found;
}

// oneDNN's pooling for these shapes when it computes PyTorch's values, else null.
std::unique_ptr<Invocation> onednn_pool(const PoolGeometry& g, const NodeShapes& s) {
  if (g.dilated()) return nullptr;  // heed's loop (oneDNN 2.6's plain pooling has no dilation)
  const Shape &x = s.in[0].shape, &y = s.out[0].shape;
  // Right padding that makes oneDNN produce PyTorch's (possibly ceil-mode) size.
  const int64_t prh = std::max<int64_t>((y[2] - 1) * g.s[0] + g.k[0] - x[2] - g.p[0], 0);
  const int64_t prw = std::max<int64_t>((y[3] - 1) * g.s[1] + g.k[1] - x[3] - g.p[1], 0);
  // oneDNN divides by the whole kernel; PyTorch leaves out what overhangs the right padding.
  if (!g.max && g.include_pad && (prh > g.p[0] || prw > g.p[1])) return nullptr;
  auto alg = g.max ? dnnl::algorithm::pooling_max
                   : g.include_pad ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
  auto src = layout_desc(s.in[0]), dst = layout_desc(s.out[0]);
  try {
    dnnl::pooling_forward::primitive_desc pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, src, dst, {g.s[0], g.s[1]}, {g.k[0], g.k[1]},
                                    {g.p[0], g.p[1]}, {prh, prw}),
        scratchpad_attr(), cpu_engine());
    auto inv = dnnl_invocation<dnnl::pooling_forward>(pd);
    inv->bind_input(DNNL_ARG_SRC, src, 0);
    inv->bind_output(DNNL_ARG_DST, dst, 0);
    return inv;
  } catch (const dnnl::error&) {  // padding beyond the kernel's half, say
    return nullptr;
  }
}

}  // namespace

void register_pool_kernels() {
  for (bool max : {true, false})
    register_kernel(max ? "MaxPool2d" : "AvgPool2d", [max](const KernelInit& init) {
      const ir::Node& n = init.node;
      auto k = ops::hw_pair(n.attr_ints("kernel_size"));
      auto st = n.attr_ints("stride").empty() ? k : ops::hw_pair(n.attr_ints("stride"));
      auto p = ops::hw_pair(n.attr_ints("padding"));
      auto d = ops::hw_pair(n.attr_ints("dilation"));
      PoolGeometry g{{k.first, k.second}, {st.first, st.second}, {p.first, p.second}, max,
                     n.attr_int("count_include_pad") != 0, {d.first, d.second}};
      auto prepare = [g](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape &x = s.in[0].shape, &y = s.out[0].shape;
        int block = s.in[0].channel_block;
        if (block != s.out[0].channel_block)
          throw Error(fmt::format("pooling between layouts {} and {} is not supported", block, s.out[0].channel_block));
        int64_t groups = x[0] * (block ? (x[1] + block - 1) / block : x[1]);
        std::shared_ptr<Invocation> fast = onednn_pool(g, s);
        if (s.in[0].dtype != DType::f32) {  // stored quantized (a max pool keeps the integers and their scale)
          if (!fast) throw Error("MaxPool2d over quantized values: oneDNN has no pooling for this geometry");
          return invocation([fast](const Buffers& io) { fast->run(io); }, fast->workspace_bytes());
        }
        const int64_t n = int64_t(s.in[0].nbytes() / sizeof(float));
        return invocation([=](const Buffers& io) {
          const float* in = io.in_as<float>(0);
          if (fast && !(g.max && has_nan(in, n))) return fast->run(io);
          float* out = io.out_as<float>(0);
          if (block == 16) pool<16>(in, out, groups, x[2], x[3], y[2], y[3], g);
          else if (block == 8) pool<8>(in, out, groups, x[2], x[3], y[2], y[3], g);
          else pool<1>(in, out, groups, x[2], x[3], y[2], y[3], g);
        }, fast ? fast->workspace_bytes() : 0);
      };
      // int8 with calibrated ranges: a max pool passes quantized values through as
      // they are (the max of the integers is the integer of the max).
      if (max && !g.dilated() && init.precision == Precision::int8)
        return quantized_kernel(prepare, Precision::f32, {}, QuantizedIO{{0}, 0, true});
      return kernel(prepare);
    });
  register_kernel("AdaptiveAvgPool2d", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const Shape &x = s.in[0].shape, &y = s.out[0].shape;
      const int64_t planes = x[0] * x[1], H = x[2], W = x[3], OH = y[2], OW = y[3];
      // The bins once per shape, not per element (a division each: 11 ms for
      // Show-Attend-Tell's [8, 2048, 8, 8] -> 14 x 14).
      std::vector<int64_t> rows(size_t(2 * OH)), cols(size_t(2 * OW));
      for (int64_t i = 0; i < OH; ++i) rows[size_t(2 * i)] = i * H / OH, rows[size_t(2 * i + 1)] = ((i + 1) * H + OH - 1) / OH;
      for (int64_t j = 0; j < OW; ++j) cols[size_t(2 * j)] = j * W / OW, cols[size_t(2 * j + 1)] = ((j + 1) * W + OW - 1) / OW;
      std::vector<float> counts(size_t(OH * OW));
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j)
          counts[size_t(i * OW + j)] = float((rows[size_t(2 * i + 1)] - rows[size_t(2 * i)]) * (cols[size_t(2 * j + 1)] - cols[size_t(2 * j)]));
      const int64_t slots = std::max<int64_t>(1, std::min<int64_t>(planes, omp_get_max_threads()));
      const int64_t scratch = (H * OW + OW + 15) / 16 * 16;  // floats a slot
      return invocation([=](const Buffers& io) {
        const float* in = io.in_as<float>(0);
        float* out = io.out_as<float>(0);
        // Separable: each row's column bins first, then the rows of each row
        // bin, summed over all columns at once (a loop the compiler vectorizes),
        // then one division. The sums associate by rows where PyTorch's run
        // through the bin: equal but for float rounding. Each slot of planes has
        // its scratch in the workspace.
#pragma omp parallel for if (planes * H * W > 16384)
        for (int64_t slot = 0; slot < slots; ++slot) {
          float* by_col = static_cast<float*>(io.workspace) + slot * scratch;
          float* acc = by_col + H * OW;
          for (int64_t p = slot * planes / slots; p < (slot + 1) * planes / slots; ++p) {
            const float* plane = in + p * H * W;
            for (int64_t h = 0; h < H; ++h)
              for (int64_t j = 0; j < OW; ++j) {
                float sum = 0.f;
                for (int64_t w = cols[size_t(2 * j)]; w < cols[size_t(2 * j + 1)]; ++w) sum += plane[h * W + w];
                by_col[h * OW + j] = sum;
              }
            float* o = out + p * OH * OW;
            for (int64_t i = 0; i < OH; ++i) {
              std::fill(acc, acc + OW, 0.f);
              for (int64_t h = rows[size_t(2 * i)]; h < rows[size_t(2 * i + 1)]; ++h)
                for (int64_t j = 0; j < OW; ++j) acc[j] += by_col[h * OW + j];
              for (int64_t j = 0; j < OW; ++j) o[i * OW + j] = acc[j] / counts[size_t(i * OW + j)];
            }
          }
        }
      }, size_t(slots * scratch) * sizeof(float));
    });
  });
}

}  // namespace heed::cpu
