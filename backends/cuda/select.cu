// Casts, ArgMax, TopK and reductions.
#include <cfloat>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/float_order.cuh"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

__device__ double load(const void* x, ScalarType t, int64_t i) {
  switch (t) {
    case ScalarType::f32: return static_cast<const float*>(x)[i];
    case ScalarType::f16: return __half2float(static_cast<const __half*>(x)[i]);
    case ScalarType::bf16: return __bfloat162float(static_cast<const __nv_bfloat16*>(x)[i]);
    case ScalarType::i32: return static_cast<const int32_t*>(x)[i];
    case ScalarType::i64: return double(static_cast<const int64_t*>(x)[i]);
    case ScalarType::u8: case ScalarType::boolean: return static_cast<const uint8_t*>(x)[i];
  }
  return 0;
}

// Floats to integers as on the CPU (cast_cpu.cc): NaN -> 0, beyond the range -> its limit.
__device__ int64_t saturate(double v, double lo, double hi, int64_t lo_i, int64_t hi_i) {
  if (isnan(v)) return 0;
  if (v >= hi) return hi_i;
  if (v <= lo) return lo_i;
  return int64_t(v);
}

__device__ void store(void* y, ScalarType t, int64_t i, double v, bool from_float) {
  switch (t) {
    case ScalarType::f32: static_cast<float*>(y)[i] = float(v); break;
    case ScalarType::f16: static_cast<__half*>(y)[i] = __float2half(float(v)); break;
    case ScalarType::bf16: static_cast<__nv_bfloat16*>(y)[i] = __float2bfloat16(float(v)); break;
    case ScalarType::i32: static_cast<int32_t*>(y)[i] = int32_t(saturate(v, -2147483648.0, 2147483647.0, INT32_MIN, INT32_MAX)); break;
    case ScalarType::i64:
      static_cast<int64_t*>(y)[i] = saturate(v, -9223372036854775808.0, 9223372036854775807.0, INT64_MIN, INT64_MAX);
      break;
    case ScalarType::u8:
      static_cast<uint8_t*>(y)[i] = from_float ? uint8_t(saturate(v, 0.0, 255.0, 0, 255)) : uint8_t(int64_t(v));
      break;
    case ScalarType::boolean: static_cast<uint8_t*>(y)[i] = v != 0.0; break;
  }
}

// i64 -> i64 and i64 -> i32 go through integers, not doubles (no rounding above 2^53).
__global__ void cast_kernel(const void* x, ScalarType from, void* y, ScalarType to, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (from == ScalarType::i64 && (to == ScalarType::i64 || to == ScalarType::i32)) {
    const int64_t v = static_cast<const int64_t*>(x)[i];
    if (to == ScalarType::i64) static_cast<int64_t*>(y)[i] = v;
    else static_cast<int32_t*>(y)[i] = int32_t(v);
    return;
  }
  const bool from_float = from == ScalarType::f32 || from == ScalarType::f16 || from == ScalarType::bf16;
  store(y, to, i, load(x, from, i), from_float);
}

// One block per column; (value, index) pairs reduced, first maximum wins (a NaN
// is the maximum, as in PyTorch).
__global__ void argmax_kernel(const float* x, int64_t n, int64_t inner, int64_t* out) {
  __shared__ float best_v[kThreads];
  __shared__ int64_t best_i[kThreads];
  const int64_t o = blockIdx.x / inner, in = blockIdx.x % inner;
  const float* col = x + o * n * inner + in;
  float v = -INFINITY;
  int64_t idx = n;  // none yet: the first element seen is taken
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float c = col[j * inner];
    if (idx == n || ranks_above(c, v)) {
      v = c;
      idx = j;
    }
  }
  best_v[threadIdx.x] = v;
  best_i[threadIdx.x] = idx;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      const float ov = best_v[threadIdx.x + s];
      const int64_t oi = best_i[threadIdx.x + s];
      const bool mine_empty = best_i[threadIdx.x] == n, other_empty = oi == n;
      const float mv = best_v[threadIdx.x];
      const bool tie = !ranks_above(ov, mv) && !ranks_above(mv, ov);
      if (!other_empty && (mine_empty || ranks_above(ov, mv) || (tie && oi < best_i[threadIdx.x]))) {
        best_v[threadIdx.x] = ov;
        best_i[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = best_i[0] < n ? best_i[0] : 0;
}

// One thread per column: k selection passes (k is small where TopK is used), in
// (value, index) order with NaN above every number, as the CPU kernel.
__global__ void topk_kernel(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest,
                            float* values, int64_t* indices) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= outer * inner) return;
  const int64_t o = c / inner, in = c % inner;
  const float* col = x + o * n * inner + in;
  float prev_v = 0.f;
  int64_t prev_i = -1;
  for (int64_t j = 0; j < k; ++j) {
    float bv = 0.f;
    int64_t bi = -1;
    for (int64_t t = 0; t < n; ++t) {
      const float v = col[t * inner];
      // after the previous pick in (value, index) order
      const bool prev_first = largest ? ranks_above(prev_v, v) : ranks_above(v, prev_v);
      const bool tie = !ranks_above(prev_v, v) && !ranks_above(v, prev_v);
      if (prev_i >= 0 && !prev_first && !(tie && t > prev_i)) continue;
      if (bi < 0 || (largest ? ranks_above(v, bv) : ranks_above(bv, v))) {
        bv = v;
        bi = t;
      }
    }
    values[(o * k + j) * inner + in] = bv;
    indices[(o * k + j) * inner + in] = bi;
    prev_v = bv;
    prev_i = bi;
  }
}

__device__ float identity_of(Reduction op) { return op == Reduction::max ? -INFINITY : op == Reduction::prod ? 1.f : 0.f; }
__device__ float combine(Reduction op, float acc, float v) {
  return op == Reduction::max ? max_nan(acc, v) : op == Reduction::prod ? acc * v : acc + v;  // NaN wins a max
}

// Offset of output o's first element (through `kept`) and of its r-th reduced element (through `reduced`).
__device__ int64_t offset_of(const StridedIndex& index, int64_t i) {
  int64_t off = 0;
  for (int d = index.rank - 1; d >= 0; --d) {
    off += (i % index.shape[d]) * index.stride_a[d];
    i /= index.shape[d];
  }
  return off;
}

// One thread per output: for reductions over fewer than a warp's elements.
__global__ void reduce_kernel(Reduction op, const float* x, StridedIndex kept, StridedIndex reduced, int64_t count,
                              float* out, int64_t outputs) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= outputs) return;
  const int64_t base = offset_of(kept, o);
  float acc = identity_of(op);
  for (int64_t r = 0; r < count; ++r) acc = combine(op, acc, x[base + offset_of(reduced, r)]);
  out[o] = op == Reduction::mean ? acc / float(count) : acc;
}

// One warp per output: its lanes read neighbouring elements (coalesced where the
// reduced dims are innermost), then combine through shuffles.
__global__ void reduce_warp_kernel(Reduction op, const float* x, StridedIndex kept, StridedIndex reduced, int64_t count,
                                   float* out, int64_t outputs) {
  const int64_t o = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (o >= outputs) return;  // the whole warp: o is the warp's
  const int64_t base = offset_of(kept, o);
  float acc = identity_of(op);
  for (int64_t r = lane; r < count; r += 32) acc = combine(op, acc, x[base + offset_of(reduced, r)]);
  for (int shift = 16; shift > 0; shift /= 2) acc = combine(op, acc, __shfl_down_sync(0xffffffffu, acc, shift));
  if (lane == 0) out[o] = op == Reduction::mean ? acc / float(count) : acc;
}

}  // namespace

void cast(const void* x, ScalarType from, void* y, ScalarType to, int64_t n, cudaStream_t stream) {
  if (n > 0) cast_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, from, y, to, n);
}

void argmax_f32(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t* out, cudaStream_t stream) {
  if (outer * inner > 0) argmax_kernel<<<unsigned(outer * inner), kThreads, 0, stream>>>(x, n, inner, out);
}

void topk_f32(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest, float* values,
              int64_t* indices, cudaStream_t stream) {
  if (outer * inner > 0) topk_kernel<<<blocks_for(outer * inner), kThreads, 0, stream>>>(x, outer, n, inner, k, largest, values, indices);
}

void reduce_f32(Reduction op, const float* x, const StridedIndex& kept, const StridedIndex& reduced, int64_t count,
                float* out, int64_t outputs, cudaStream_t stream) {
  if (outputs <= 0) return;
  if (count >= 32) reduce_warp_kernel<<<blocks_for(outputs * 32), kThreads, 0, stream>>>(op, x, kept, reduced, count, out, outputs);
  else reduce_kernel<<<blocks_for(outputs), kThreads, 0, stream>>>(op, x, kept, reduced, count, out, outputs);
}

}  // namespace heed::cuda
