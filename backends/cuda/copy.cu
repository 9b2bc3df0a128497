// Data movement: strided copies (transpose, slice, broadcast reads) and row
// gathers with an on-device range check.
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/launch.cuh"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

template <typename T>
__global__ void strided_copy_kernel(const T* src, T* dst, StridedIndex index, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rest = i, from = 0, to = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    const int64_t c = rest % index.shape[d];
    rest /= index.shape[d];
    from += c * index.stride_a[d];
    to += c * index.stride_b[d];
  }
  dst[to] = src[from];
}

template <typename Index>
__global__ void check_ids_kernel(const Index* ids, int64_t count, int64_t dim, bool wrap, unsigned long long* bad) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count && (ids[i] < (wrap ? -dim : 0) || ids[i] >= dim)) atomicCAS(bad, 0ull, static_cast<unsigned long long>(i + 1));
}

// One block per (outer, id) row; bytes copied as 4-byte words when aligned.
template <typename Index>
__global__ void gather_kernel(const char* data, int64_t dim, int64_t row_bytes, const Index* ids, int64_t count,
                              char* out, const unsigned long long* bad) {
  if (*bad) return;
  const int64_t o = blockIdx.x / count, i = blockIdx.x % count;
  const int64_t id = int64_t(ids[i]) < 0 ? int64_t(ids[i]) + dim : int64_t(ids[i]);  // negative only where wrap allowed it
  const char* src = data + (o * dim + id) * row_bytes;
  char* dst = out + (o * count + i) * row_bytes;
  if (row_bytes % 4 == 0) {
    for (int64_t j = threadIdx.x; j < row_bytes / 4; j += blockDim.x)
      reinterpret_cast<int*>(dst)[j] = reinterpret_cast<const int*>(src)[j];
  } else {
    for (int64_t j = threadIdx.x; j < row_bytes; j += blockDim.x) dst[j] = src[j];
  }
}

// One block of threads per copy, in 16-byte words when the copy allows, else bytes.
__global__ void copy_blocks_kernel(const DeviceCopy* blocks) {
  const DeviceCopy c = blocks[blockIdx.x];
  const auto dst = reinterpret_cast<uintptr_t>(c.dst), src = reinterpret_cast<uintptr_t>(c.src);
  if ((dst | src | c.bytes) % 16 == 0) {
    for (unsigned long long j = threadIdx.x; j < c.bytes / 16; j += blockDim.x)
      reinterpret_cast<uint4*>(c.dst)[j] = reinterpret_cast<const uint4*>(c.src)[j];
  } else {
    for (unsigned long long j = threadIdx.x; j < c.bytes; j += blockDim.x)
      static_cast<char*>(c.dst)[j] = static_cast<const char*>(c.src)[j];
  }
}

}  // namespace

void copy_blocks(const DeviceCopy* blocks, int64_t count, cudaStream_t stream) {
  if (count > 0) copy_blocks_kernel<<<unsigned(count), kThreads, 0, stream>>>(blocks);
}

void strided_copy(const void* src, void* dst, int elem_bytes, const StridedIndex& index, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(src), static_cast<T*>(dst), index, n);
  });
}

template <typename Index>
void gather_rows(const void* data, int64_t outer, int64_t dim, int64_t row_bytes, const Index* ids, int64_t count,
                 bool wrap, void* out, unsigned long long* bad, cudaStream_t stream) {
  if (count <= 0 || outer <= 0) return;
  cudaMemsetAsync(bad, 0, sizeof(unsigned long long), stream);
  check_ids_kernel<<<blocks_for(count), kThreads, 0, stream>>>(ids, count, dim, wrap, bad);
  if (row_bytes > 0)
    gather_kernel<<<unsigned(outer * count), kThreads, 0, stream>>>(static_cast<const char*>(data), dim, row_bytes, ids,
                                                                    count, static_cast<char*>(out), bad);
}
template void gather_rows<int32_t>(const void*, int64_t, int64_t, int64_t, const int32_t*, int64_t, bool, void*,
                                   unsigned long long*, cudaStream_t);
template void gather_rows<int64_t>(const void*, int64_t, int64_t, int64_t, const int64_t*, int64_t, bool, void*,
                                   unsigned long long*, cudaStream_t);

}  // namespace heed::cuda
