// Comparisons, logic, Not, IsNaN and Where: the kernels attention masks are
// built from (broadcast through a StridedIndex, as the binary ops).
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/launch.cuh"

namespace heed::cuda {
namespace {

template <typename T>
__device__ uint8_t test(Predicate op, T a, T b) {
  switch (op) {
    case Predicate::equal: return a == b;
    case Predicate::less: return a < b;
    case Predicate::greater: return a > b;
    case Predicate::less_equal: return a <= b;
    case Predicate::greater_equal: return a >= b;
    case Predicate::logical_and: return a && b;
    case Predicate::logical_or: return a || b;
    case Predicate::logical_xor: return bool(a) != bool(b);
  }
  return 0;
}

// Offsets of output element i in a and b.
__device__ void offsets(const StridedIndex& index, int64_t i, int64_t* ia, int64_t* ib) {
  int64_t rest = i;
  *ia = 0, *ib = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    const int64_t c = rest % index.shape[d];
    rest /= index.shape[d];
    *ia += c * index.stride_a[d];
    *ib += c * index.stride_b[d];
  }
}

template <typename T>
__global__ void predicate_kernel(Predicate op, const T* a, const T* b, uint8_t* y, StridedIndex index, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t ia, ib;
  offsets(index, i, &ia, &ib);
  y[i] = test(op, a[ia], b[ib]);
}

__global__ void not_kernel(const uint8_t* x, uint8_t* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = !x[i];
}

__global__ void is_nan_kernel(const float* x, uint8_t* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] != x[i];
}

struct CondStrides {
  int64_t s[kMaxRank];
};

template <typename T>
__global__ void where_kernel(const uint8_t* cond, CondStrides cs, const T* a, const T* b, T* y, StridedIndex index,
                             int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, ia = 0, ib = 0, ic = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    const int64_t c = rest % index.shape[d];
    rest /= index.shape[d];
    ia += c * index.stride_a[d];
    ib += c * index.stride_b[d];
    ic += c * cs.s[d];
  }
  y[i] = cond[ic] ? a[ia] : b[ib];
}

}  // namespace

template <typename T>
void predicate(Predicate op, const T* a, const T* b, uint8_t* y, const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n > 0) predicate_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(op, a, b, y, index, n);
}
template void predicate<float>(Predicate, const float*, const float*, uint8_t*, const StridedIndex&, int64_t, cudaStream_t);
template void predicate<int32_t>(Predicate, const int32_t*, const int32_t*, uint8_t*, const StridedIndex&, int64_t, cudaStream_t);
template void predicate<int64_t>(Predicate, const int64_t*, const int64_t*, uint8_t*, const StridedIndex&, int64_t, cudaStream_t);
template void predicate<uint8_t>(Predicate, const uint8_t*, const uint8_t*, uint8_t*, const StridedIndex&, int64_t, cudaStream_t);

void logical_not(const uint8_t* x, uint8_t* y, int64_t n, cudaStream_t stream) {
  if (n > 0) not_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(x, y, n);
}

void is_nan(const float* x, uint8_t* y, int64_t n, cudaStream_t stream) {
  if (n > 0) is_nan_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(x, y, n);
}

void where(const uint8_t* cond, const int64_t* cond_strides, const void* a, const void* b, void* y, int elem_bytes,
           const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  CondStrides cs{};
  for (int d = 0; d < index.rank; ++d) cs.s[d] = cond_strides[d];
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    where_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(cond, cs, static_cast<const T*>(a), static_cast<const T*>(b),
                                                               static_cast<T*>(y), index, n);
  });
}

}  // namespace heed::cuda
