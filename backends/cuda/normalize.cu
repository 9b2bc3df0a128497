// Softmax / log-softmax along an axis and layer normalization: one block per
// row (or per [outer, inner] column), block-wide reductions in shared memory.
#include <cfloat>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/float_order.cuh"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;

// Reduces v over the block with op; every thread gets the result.
template <typename Op>
__device__ float block_reduce(float v, Op op, float identity, float* shared) {
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x / 32) ? shared[lane] : identity;
    for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  v = shared[0];
  __syncthreads();
  return v;
}

struct Max {  // NaN spreads to the row, as in PyTorch
  __device__ float operator()(float a, float b) const { return max_nan(a, b); }
};
struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};

// Block b handles outer index b / inner and inner index b % inner. A row with a
// NaN or +inf comes out NaN, as does an all -inf row unless `masked`: then the
// mask hid the whole row and it comes out as probability 0 (log: -inf), as the
// CPU kernel does.
__global__ void softmax_kernel(const float* x, float* y, int64_t axis, int64_t inner, bool log, bool masked) {
  __shared__ float shared[32];
  const int64_t o = blockIdx.x / inner, in = blockIdx.x % inner;
  const float* row = x + o * axis * inner + in;
  float* out = y + o * axis * inner + in;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) m = max_nan(m, row[j * inner]);
  m = block_reduce(m, Max{}, -INFINITY, shared);
  if (masked && m == -INFINITY) {
    for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) out[j * inner] = log ? -INFINITY : 0.f;
    return;
  }
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) s += expf(row[j * inner] - m);
  s = block_reduce(s, Sum{}, 0.f, shared);
  const float log_sum = logf(s);
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) {
    float z = row[j * inner] - m;
    out[j * inner] = log ? z - log_sum : expf(z) / s;
  }
}

__global__ void layer_norm_kernel(const float* x, const float* weight, const float* bias, float* y, int64_t cols,
                                  float epsilon) {
  __shared__ float shared[32];
  const float* row = x + int64_t(blockIdx.x) * cols;
  float* out = y + int64_t(blockIdx.x) * cols;
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += row[j];
  const float mean = block_reduce(s, Sum{}, 0.f, shared) / float(cols);
  float v = 0.f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) v += (row[j] - mean) * (row[j] - mean);
  const float rstd = rsqrtf(block_reduce(v, Sum{}, 0.f, shared) / float(cols) + epsilon);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float z = (row[j] - mean) * rstd;
    out[j] = z * (weight ? weight[j] : 1.f) + (bias ? bias[j] : 0.f);
  }
}

}  // namespace

void softmax_f32(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner, bool log, bool masked,
                 cudaStream_t stream) {
  if (outer * inner > 0 && axis > 0)
    softmax_kernel<<<unsigned(outer * inner), kThreads, 0, stream>>>(x, y, axis, inner, log, masked);
}

void layer_norm_f32(const float* x, const float* weight, const float* bias, float* y, int64_t rows, int64_t cols,
                    float epsilon, cudaStream_t stream) {
  if (rows > 0 && cols > 0) layer_norm_kernel<<<unsigned(rows), kThreads, 0, stream>>>(x, weight, bias, y, cols, epsilon);
}

}  // namespace heed::cuda
