#pragma once
// Launchers of heed's own CUDA kernels (the .cu files), callable from host C++.
// Every launcher queues work on `stream` and returns at once.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace heed::cuda {

constexpr int kMaxRank = 8;

enum class Unary : int { identity, sqrt, exp, log, tanh, sigmoid, relu, gelu, gelu_tanh, silu, neg };
enum class Binary : int { add, sub, mul, div, pow, max, min };

// An output index decomposed over `shape`, each input addressed through its own
// strides (0 along broadcast dims), in elements.
struct StridedIndex {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t stride_a[kMaxRank] = {}, stride_b[kMaxRank] = {};
};

void unary_f32(Unary op, const float* x, float* y, int64_t n, cudaStream_t stream);
// T: float, int32_t or int64_t.
template <typename T>
void binary(Binary op, const T* a, const T* b, T* y, const StridedIndex& index, int64_t n, cudaStream_t stream);
// y[r, c] = act(y[r, c] + bias[c]) (bias may be null).
void bias_activation_f32(float* y, const float* bias, int64_t rows, int64_t cols, Unary act, cudaStream_t stream);

// x viewed as [outer, axis, inner]: softmax (or log-softmax) along axis.
void softmax_f32(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner, bool log, cudaStream_t stream);
// Rows of `cols` normalized, then * weight + bias (either may be null).
void layer_norm_f32(const float* x, const float* weight, const float* bias, float* y, int64_t rows, int64_t cols,
                    float epsilon, cudaStream_t stream);

// dst[i] = src[offset(i)]: dst contiguous over index.shape, src through index.stride_a
// (a transpose, slice or broadcast read), elements of elem_bytes (1, 2, 4 or 8).
void strided_copy(const void* src, void* dst, int elem_bytes, const StridedIndex& index, int64_t n, cudaStream_t stream);
// data viewed as [outer, dim, row_bytes]: out[o, i] = data[o, ids[i]]. An id
// outside [0, dim) sets *bad to its position + 1 (first writer wins) and copies nothing.
template <typename Index>
void gather_rows(const void* data, int64_t outer, int64_t dim, int64_t row_bytes, const Index* ids, int64_t count,
                 void* out, unsigned long long* bad, cudaStream_t stream);

}  // namespace heed::cuda
