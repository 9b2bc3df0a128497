// Element-wise kernels: unary functions, binary ops with numpy broadcasting,
// and the bias + activation epilogue of cuBLAS GEMMs.
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/float_order.cuh"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

__device__ float apply(Unary op, float x) {
  switch (op) {
    case Unary::identity: return x;
    case Unary::sqrt: return sqrtf(x);
    case Unary::exp: return expf(x);
    case Unary::log: return logf(x);
    case Unary::tanh: return tanhf(x);
    case Unary::sigmoid: return 1.f / (1.f + expf(-x));
    case Unary::relu: return x <= 0.f ? 0.f : x;  // NaN stays NaN, as in PyTorch
    case Unary::gelu: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Unary::gelu_tanh: return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case Unary::silu: return x / (1.f + expf(-x));
    case Unary::neg: return -x;
    case Unary::abs: return fabsf(x);
    case Unary::erf: return erff(x);
  }
  return x;
}

template <typename T>
__device__ T apply(Binary op, T a, T b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
    case Binary::pow: return T(pow(double(a), double(b)));
    case Binary::max: return a > b ? a : b;
    case Binary::min: return a < b ? a : b;
  }
  return a;
}

template <>
__device__ float apply<float>(Binary op, float a, float b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
    case Binary::pow: return powf(a, b);
    case Binary::max: return max_nan(a, b);  // torch.maximum/minimum: a NaN operand gives NaN
    case Binary::min: return min_nan(a, b);
  }
  return a;
}

__global__ void unary_kernel(Unary op, const float* x, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = apply(op, x[i]);
}

template <typename T>
__global__ void binary_kernel(Binary op, const T* a, const T* b, T* y, StridedIndex index, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, ia = 0, ib = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    int64_t c = rest % index.shape[d];
    rest /= index.shape[d];
    ia += c * index.stride_a[d];
    ib += c * index.stride_b[d];
  }
  y[i] = apply(op, a[ia], b[ib]);
}

__global__ void bias_activation_kernel(float* y, int64_t ld, const float* bias, int64_t rows, int64_t cols, Unary act) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t c = i % cols;
  float* p = y + (i / cols) * ld + c;
  *p = apply(act, *p + (bias ? bias[c] : 0.f));
}

}  // namespace

void unary_f32(Unary op, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n > 0) unary_kernel<<<blocks_for(n), kThreads, 0, stream>>>(op, x, y, n);
}

template <typename T>
void binary(Binary op, const T* a, const T* b, T* y, const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n > 0) binary_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(op, a, b, y, index, n);
}
template void binary<float>(Binary, const float*, const float*, float*, const StridedIndex&, int64_t, cudaStream_t);
template void binary<int32_t>(Binary, const int32_t*, const int32_t*, int32_t*, const StridedIndex&, int64_t, cudaStream_t);
template void binary<int64_t>(Binary, const int64_t*, const int64_t*, int64_t*, const StridedIndex&, int64_t, cudaStream_t);
template void binary<uint8_t>(Binary, const uint8_t*, const uint8_t*, uint8_t*, const StridedIndex&, int64_t, cudaStream_t);

void bias_activation_f32(float* y, int64_t ld, const float* bias, int64_t rows, int64_t cols, Unary act, cudaStream_t stream) {
  if (rows * cols > 0) bias_activation_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, ld, bias, rows, cols, act);
}

}  // namespace heed::cuda
