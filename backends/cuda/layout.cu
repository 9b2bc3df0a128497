// CumSum, Trilu, Tile/Pad (one remapping kernel) and GatherElements: position
// ids, causal masks and image borders, one thread per output element (or per
// column for the running sums).
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/launch.cuh"

namespace heed::cuda {
namespace {

// In the same order as the CPU loop, so float sums round alike.
template <typename T>
__global__ void cumsum_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const int64_t o = c / inner, i = c % inner;
  T acc = T(0);
  for (int64_t step = 0; step < n; ++step) {
    const int64_t j = reverse ? n - 1 - step : step, at = (o * n + j) * inner + i;
    const T v = x[at];
    if (!exclusive) acc += v;
    y[at] = acc;
    if (exclusive) acc += v;
  }
}

template <typename T>
__global__ void trilu_kernel(const T* x, T* y, int64_t rows, int64_t cols, bool upper, int64_t k, int64_t n) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  const int64_t j = e % cols, i = (e / cols) % rows;
  const bool keep = upper ? j - i >= k : j - i <= k;
  y[e] = keep ? x[e] : T(0);
}

// Input coordinate of output coordinate c along one dim, or -1 (the fill).
__device__ int64_t source_coordinate(Remap mode, int64_t c, int64_t begin, int64_t n) {
  if (n <= 0) return -1;  // an empty input dim pads with the fill alone
  if (mode == Remap::tile) return c % n;
  int64_t i = c - begin;
  if (i >= 0 && i < n) return i;
  if (mode == Remap::constant) return -1;
  if (mode == Remap::edge) return i < 0 ? 0 : n - 1;
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);  // reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

template <typename T>
__global__ void remap_kernel(const T* x, T* y, RemapIndex index, int64_t n) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  int64_t rest = e, from = 0, step = 1;
  for (int d = index.rank - 1; d >= 0; --d) {
    const int64_t c = source_coordinate(index.mode, rest % index.out[d], index.begin[d], index.in[d]);
    rest /= index.out[d];
    if (c < 0) {
      y[e] = *reinterpret_cast<const T*>(&index.fill);
      return;
    }
    from += c * step;
    step *= index.in[d];
  }
  y[e] = x[from];
}

template <typename Index>
__global__ void check_elements_kernel(const Index* ids, int64_t n, int64_t dim, unsigned long long* bad) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n && (ids[i] < -dim || ids[i] >= dim)) atomicCAS(bad, 0ull, static_cast<unsigned long long>(i + 1));
}

template <typename T, typename Index>
__global__ void gather_elements_kernel(const T* data, const Index* ids, StridedIndex index, int axis, int64_t dim, int64_t n,
                                       T* y, const unsigned long long* bad) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n || *bad) return;
  int64_t rest = e, from = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    int64_t c = rest % index.shape[d];
    rest /= index.shape[d];
    if (d == axis) c = ids[e] < 0 ? int64_t(ids[e]) + dim : int64_t(ids[e]);
    from += c * index.stride_a[d];
  }
  y[e] = data[from];
}

}  // namespace

template <typename T>
void cumsum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, cudaStream_t stream) {
  if (outer * inner > 0 && n > 0)
    cumsum_kernel<<<blocks_over(outer * inner), kBlockThreads, 0, stream>>>(x, y, outer, n, inner, exclusive, reverse);
}
template void cumsum<float>(const float*, float*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template void cumsum<int32_t>(const int32_t*, int32_t*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);
template void cumsum<int64_t>(const int64_t*, int64_t*, int64_t, int64_t, int64_t, bool, bool, cudaStream_t);

void trilu(const void* x, void* y, int elem_bytes, int64_t matrices, int64_t rows, int64_t cols, bool upper, int64_t k,
           cudaStream_t stream) {
  const int64_t n = matrices * rows * cols;
  if (n <= 0) return;
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    trilu_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), rows, cols, upper, k, n);
  });
}

void remap(const void* x, void* y, int elem_bytes, const RemapIndex& index, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    remap_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), index, n);
  });
}

template <typename Index>
void gather_elements(const void* data, int elem_bytes, const Index* ids, const StridedIndex& index, int axis, int64_t dim,
                     int64_t n, void* y, unsigned long long* bad, cudaStream_t stream) {
  cudaMemsetAsync(bad, 0, sizeof(unsigned long long), stream);
  if (n <= 0) return;
  check_elements_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(ids, n, dim, bad);
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    gather_elements_kernel<<<blocks_over(n), kBlockThreads, 0, stream>>>(static_cast<const T*>(data), ids, index, axis, dim, n,
                                                                         static_cast<T*>(y), bad);
  });
}
template void gather_elements<int32_t>(const void*, int, const int32_t*, const StridedIndex&, int, int64_t, int64_t, void*,
                                       unsigned long long*, cudaStream_t);
template void gather_elements<int64_t>(const void*, int, const int64_t*, const StridedIndex&, int, int64_t, int64_t, void*,
                                       unsigned long long*, cudaStream_t);

}  // namespace heed::cuda
