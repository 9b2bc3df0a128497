// Convolution-family kernels (NCHW): im2col for the cuBLAS convolution, its
// bias/residual/ReLU epilogue, pooling, batch norm.
#include <cfloat>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/float_order.cuh"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;
__device__ int64_t lesser(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ int64_t greater(int64_t a, int64_t b) { return a > b ? a : b; }
inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

__global__ void im2col_kernel(const float* x, Window2d w, int64_t images, int64_t image_stride, float* col) {
  const int64_t P = w.OH * w.OW, K = w.C * w.kh * w.kw, i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= images * K * P) return;
  const int64_t p = i % P, r = (i / P) % K, n = i / (K * P);  // row r = (c, ky, kx) of image n
  const int64_t kx = r % w.kw, ky = (r / w.kw) % w.kh, c = r / (w.kw * w.kh);
  x += n * image_stride;
  const int64_t oy = p / w.OW, ox = p % w.OW;
  const int64_t iy = oy * w.sh - w.ph + ky * w.dh, ix = ox * w.sw - w.pw + kx * w.dw;
  col[i] = iy >= 0 && iy < w.H && ix >= 0 && ix < w.W ? x[(c * w.H + iy) * w.W + ix] : 0.f;
}

__global__ void epilogue_kernel(float* y, const float* bias, const float* residual, int64_t N, int64_t O, int64_t P,
                                bool relu) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * O * P) return;
  float v = y[i] + (bias ? bias[(i / P) % O] : 0.f) + (residual ? residual[i] : 0.f);
  y[i] = relu && v < 0.f ? 0.f : v;
}

__global__ void pool_kernel(const float* x, Window2d w, bool max, bool include_pad, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= w.N * w.C * w.OH * w.OW) return;
  const int64_t ox = i % w.OW, oy = (i / w.OW) % w.OH, nc = i / (w.OW * w.OH);
  if (w.dh != 1 || w.dw != 1) {  // a dilated max pool: taps a dilation apart, padding skipped
    const float* plane = x + nc * w.H * w.W;
    float acc = -INFINITY;
    for (int64_t a = 0; a < w.kh; ++a) {
      const int64_t yy = oy * w.sh - w.ph + a * w.dh;
      if (yy < 0 || yy >= w.H) continue;
      for (int64_t b = 0; b < w.kw; ++b) {
        const int64_t xx = ox * w.sw - w.pw + b * w.dw;
        if (xx < 0 || xx >= w.W) continue;
        const float v = plane[yy * w.W + xx];
        acc = max_nan(v, acc);
      }
    }
    y[i] = acc;
    return;
  }
  int64_t y0 = oy * w.sh - w.ph, x0 = ox * w.sw - w.pw;
  int64_t y1 = lesser(y0 + w.kh, w.H + w.ph), x1 = lesser(x0 + w.kw, w.W + w.pw);
  const int64_t padded = (y1 - y0) * (x1 - x0);
  y0 = greater(y0, 0), x0 = greater(x0, 0), y1 = lesser(y1, w.H), x1 = lesser(x1, w.W);
  const float* plane = x + nc * w.H * w.W;
  float acc = max ? -INFINITY : 0.f;
  for (int64_t yy = y0; yy < y1; ++yy)
    for (int64_t xx = x0; xx < x1; ++xx) {
      const float v = plane[yy * w.W + xx];
      acc = max ? max_nan(v, acc) : acc + v;
    }
  if (!max) acc /= float(include_pad ? padded : (y1 - y0) * (x1 - x0));
  y[i] = acc;
}

__global__ void adaptive_kernel(const float* x, Window2d w, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= w.N * w.C * w.OH * w.OW) return;
  const int64_t ox = i % w.OW, oy = (i / w.OW) % w.OH, nc = i / (w.OW * w.OH);
  const int64_t y0 = oy * w.H / w.OH, y1 = ((oy + 1) * w.H + w.OH - 1) / w.OH;
  const int64_t x0 = ox * w.W / w.OW, x1 = ((ox + 1) * w.W + w.OW - 1) / w.OW;
  const float* plane = x + nc * w.H * w.W;
  float acc = 0.f;
  for (int64_t yy = y0; yy < y1; ++yy)
    for (int64_t xx = x0; xx < x1; ++xx) acc += plane[yy * w.W + xx];
  y[i] = acc / float((y1 - y0) * (x1 - x0));
}

__global__ void batch_norm_kernel(const float* x, const float* scale, const float* shift, const float* mean,
                                  const float* var, float eps, int64_t N, int64_t C, int64_t P, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C * P) return;
  const int64_t c = (i / P) % C;
  y[i] = (x[i] - mean[c]) * rsqrtf(var[c] + eps) * scale[c] + shift[c];
}

// Output pixel (c, oy, ox) sums the columns of every tap (a, b) whose input
// pixel (iy, ix) lands on it: oy = iy * sh - ph + a * dh (likewise x).
__global__ void col2im_kernel(const float* col, Window2d w, const float* bias, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= w.C * w.OH * w.OW) return;
  const int64_t ox = i % w.OW, oy = (i / w.OW) % w.OH, c = i / (w.OW * w.OH), P = w.H * w.W;
  float acc = bias ? bias[c] : 0.f;
  for (int64_t a = 0; a < w.kh; ++a) {
    const int64_t ty = oy + w.ph - a * w.dh;
    if (ty < 0 || ty % w.sh || ty / w.sh >= w.H) continue;
    for (int64_t b = 0; b < w.kw; ++b) {
      const int64_t tx = ox + w.pw - b * w.dw;
      if (tx < 0 || tx % w.sw || tx / w.sw >= w.W) continue;
      acc += col[((c * w.kh + a) * w.kw + b) * P + (ty / w.sh) * w.W + tx / w.sw];
    }
  }
  y[i] = acc;
}

}  // namespace

void col2im(const float* col, const Window2d& w, const float* bias, float* y, cudaStream_t stream) {
  const int64_t n = w.C * w.OH * w.OW;
  if (n > 0) col2im_kernel<<<blocks_for(n), kThreads, 0, stream>>>(col, w, bias, y);
}

void im2col(const float* x, const Window2d& w, int64_t images, int64_t image_stride, float* col, cudaStream_t stream) {
  const int64_t n = images * w.C * w.kh * w.kw * w.OH * w.OW;
  if (n > 0) im2col_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, w, images, image_stride, col);
}

void conv_epilogue(float* y, const float* bias, const float* residual, int64_t N, int64_t O, int64_t P, bool relu,
                   cudaStream_t stream) {
  if (N * O * P > 0) epilogue_kernel<<<blocks_for(N * O * P), kThreads, 0, stream>>>(y, bias, residual, N, O, P, relu);
}

void pool2d(const float* x, const Window2d& w, bool max, bool count_include_pad, float* y, cudaStream_t stream) {
  const int64_t n = w.N * w.C * w.OH * w.OW;
  if (n > 0) pool_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, w, max, count_include_pad, y);
}

void adaptive_avg_pool2d(const float* x, const Window2d& w, float* y, cudaStream_t stream) {
  const int64_t n = w.N * w.C * w.OH * w.OW;
  if (n > 0) adaptive_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, w, y);
}

void batch_norm(const float* x, const float* scale, const float* shift, const float* mean, const float* var, float eps,
                int64_t N, int64_t C, int64_t P, float* y, cudaStream_t stream) {
  if (N * C * P > 0) batch_norm_kernel<<<blocks_for(N * C * P), kThreads, 0, stream>>>(x, scale, shift, mean, var, eps, N, C, P, y);
}

}  // namespace heed::cuda
