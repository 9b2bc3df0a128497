// The non-GEMM parts of multi-head attention: masked softmax over score rows,
// and appending new keys/values to a KV cache.
#include <cfloat>

#include "backends/cuda/cuda_kernels.h"

namespace heed::cuda {
namespace {

constexpr int kThreads = 128;

__device__ float mask_value(const void* mask, bool is_bool, int64_t i) {
  if (!mask) return 0.f;
  if (is_bool) return static_cast<const uint8_t*>(mask)[i] ? -INFINITY : 0.f;
  return static_cast<const float*>(mask)[i];
}

// The masks of query (b, h, t) over key j (the bias's and the row masks').
__device__ float masks_value(const AttentionMaskArgs& m, int64_t b, int64_t h, int64_t t, int64_t j) {
  return mask_value(m.key_padding, m.key_padding_bool, b * m.mask_stride + j) +
         mask_value(m.attn_mask, m.attn_mask_bool, t * m.mask_stride + j) +
         mask_value(m.bias, m.bias_bool, b * m.bias_strides[0] + h * m.bias_strides[1] + t * m.bias_strides[2] + j);
}

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per row [b, h, t].
__global__ void attention_softmax_kernel(float* scores, int64_t rows, int64_t H, int64_t T, int64_t L, int64_t keys,
                                         AttentionMaskArgs m) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const int64_t t = row % T, h = (row / T) % H, b = row / (H * T);
  float* s = scores + row * L;
  const int64_t limit = m.query_offset + t + 1, visible = m.causal && limit < keys ? limit : keys;
  float mx = -INFINITY;
  for (int64_t j = lane; j < keys; j += 32) {
    float v = j < visible ? s[j] + masks_value(m, b, h, t, j) : -INFINITY;
    s[j] = v;
    mx = fmaxf(mx, v);
  }
  mx = warp_max(mx);
  if (mx == -INFINITY) {  // nothing visible: zeros, never NaN
    for (int64_t j = lane; j < L; j += 32) s[j] = 0.f;
    return;
  }
  float sum = 0.f;
  for (int64_t j = lane; j < keys; j += 32) {
    const float e = expf(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  for (int64_t j = lane; j < L; j += 32) s[j] = j < keys ? s[j] / sum : 0.f;
}

__global__ void append_kernel(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S,
                              int64_t ld, int64_t position) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * T * H * Dh) return;
  const int64_t d = i % Dh, h = (i / Dh) % H, t = (i / (Dh * H)) % T, b = i / (Dh * H * T);
  cache[((b * H + h) * S + position + t) * Dh + d] = rows[(b * T + t) * ld + h * Dh + d];
}

__device__ int64_t read_position(const void* position, bool i32) {
  return i32 ? int64_t(*static_cast<const int32_t*>(position)) : *static_cast<const int64_t*>(position);
}

__global__ void append_at_kernel(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S,
                                 int64_t ld, const void* position_ptr, bool position_i32, unsigned long long* error) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * T * H * Dh) return;
  const int64_t position = read_position(position_ptr, position_i32);
  if (position < 0 || position + T > S) {
    if (i == 0) *error = 1;
    return;
  }
  const int64_t d = i % Dh, h = (i / Dh) % H, t = (i / (Dh * H)) % T, b = i / (Dh * H * T);
  cache[((b * H + h) * S + position + t) * Dh + d] = rows[(b * T + t) * ld + h * Dh + d];
}

__device__ float block_reduce(float v, bool max, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = max ? warp_max(v) : warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : (max ? -INFINITY : 0.f);
  v = max ? warp_max(v) : warp_sum(v);
  __syncthreads();
  return v;
}

// One block per (b, h); dynamic shared memory: the query (Dh) and the scores (L).
__global__ void decode_attention_kernel(DecodeAttentionArgs a) {
  extern __shared__ float shared[];
  __shared__ float partial[32];
  float* qs = shared;
  float* sc = shared + a.Dh;
  const int64_t b = blockIdx.x / a.H, h = blockIdx.x % a.H;
  int64_t keys = a.position ? read_position(a.position, a.position_i32) + 1 : a.fixed_keys;
  if (keys > a.L || keys < 0) {
    if (threadIdx.x == 0 && a.error) *a.error = 1;
    keys = keys < 0 ? 0 : a.L;
  }
  for (int64_t e = threadIdx.x; e < a.Dh; e += blockDim.x) qs[e] = a.q[b * a.q_ld + h * a.Dh + e];
  __syncthreads();
  const float* k = a.k + b * a.batch_stride + h * a.head_stride;
  const float* v = a.v + b * a.batch_stride + h * a.head_stride;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < keys; j += blockDim.x) {
    float dot = 0.f;
    for (int64_t e = 0; e < a.Dh; ++e) dot += qs[e] * k[j * a.Dh + e];
    const float s = dot * a.scale + masks_value(a.masks, b, h, 0, j);
    sc[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = block_reduce(mx, true, partial);
  float* ctx = a.ctx + b * a.ctx_ld + h * a.Dh;
  float* w = a.weights ? a.weights + (b * a.H + h) * a.L : nullptr;
  if (mx == -INFINITY) {  // nothing visible: zeros, never NaN
    for (int64_t e = threadIdx.x; e < a.Dh; e += blockDim.x) ctx[e] = 0.f;
    if (w)
      for (int64_t j = threadIdx.x; j < a.L; j += blockDim.x) w[j] = 0.f;
    return;
  }
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < keys; j += blockDim.x) {
    const float p = expf(sc[j] - mx);
    sc[j] = p;
    sum += p;
  }
  sum = block_reduce(sum, false, partial);
  for (int64_t j = threadIdx.x; j < keys; j += blockDim.x) sc[j] /= sum;
  __syncthreads();
  for (int64_t e = threadIdx.x; e < a.Dh; e += blockDim.x) {
    float acc = 0.f;
    for (int64_t j = 0; j < keys; ++j) acc += sc[j] * v[j * a.Dh + e];
    ctx[e] = acc;
  }
  if (w)
    for (int64_t j = threadIdx.x; j < a.L; j += blockDim.x) w[j] = j < keys ? sc[j] : 0.f;
}

}  // namespace

void append_to_cache_at(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S,
                        int64_t ld, const void* position, bool position_i32, unsigned long long* error, cudaStream_t stream) {
  const int64_t n = B * T * H * Dh;
  if (n > 0)
    append_at_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(cache, rows, B, T, H, Dh, S, ld, position, position_i32,
                                                                    error);
}

void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  if (a.B * a.H == 0) return;
  const size_t shared = size_t(a.Dh + a.L) * sizeof(float);
  decode_attention_kernel<<<unsigned(a.B * a.H), kThreads, shared, stream>>>(a);
}

void attention_softmax(float* scores, int64_t B, int64_t H, int64_t T, int64_t L, int64_t keys,
                       const AttentionMaskArgs& masks, cudaStream_t stream) {
  const int64_t rows = B * H * T, per_block = kThreads / 32;
  if (rows > 0)
    attention_softmax_kernel<<<unsigned((rows + per_block - 1) / per_block), kThreads, 0, stream>>>(scores, rows, H, T, L,
                                                                                                  keys, masks);
}

void append_to_cache(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S, int64_t ld,
                     int64_t position, cudaStream_t stream) {
  const int64_t n = B * T * H * Dh;
  if (n > 0) append_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(cache, rows, B, T, H, Dh, S, ld, position);
}

}  // namespace heed::cuda

namespace heed::cuda {
namespace {

__global__ void additive_scores_kernel(const float* qa, const float* ka, const float* v, float* scores, int64_t B,
                                       int64_t T, int64_t S, int64_t A) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * T * S) return;
  const int64_t s = i % S, t = (i / S) % T, b = i / (S * T);
  const float* q = qa + (b * T + t) * A;
  const float* k = ka + (b * S + s) * A;
  float acc = 0.f;
  for (int64_t a = 0; a < A; ++a) acc += v[a] * tanhf(q[a] + k[a]);
  scores[i] = acc;
}

// One thread per query row: the window is small (left + right + 1 keys).
__global__ void local_attention_kernel(LocalAttentionArgs a, const float* q, const float* k, const float* v,
                                       const float* hp, const float* vp, float* out, float* weights) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= a.B * a.T) return;
  const int64_t b = r / a.T, t = r % a.T, W = a.left + a.right + 1;
  int64_t len = a.S;
  if (a.lengths) {
    const int64_t l = a.lengths64 ? static_cast<const int64_t*>(a.lengths)[b] : static_cast<const int32_t*>(a.lengths)[b];
    len = l < a.S ? l : a.S;
  }
  double p = double(t);
  if (a.predictive) {
    double z = 0;
    for (int64_t i = 0; i < a.P; ++i) z += double(vp[i]) * tanh(double(hp[r * a.P + i]));
    p = double(len) / (1.0 + exp(-z));
  }
  const int64_t first = a.distance_rule ? int64_t(ceil(p - double(a.left))) : int64_t(floor(p)) - a.left;
  const int64_t last = a.distance_rule ? int64_t(floor(p + double(a.right))) : int64_t(floor(p)) + a.right;
  const int64_t lo = first > 0 ? first : 0, hi = last + 1 < len ? last + 1 : len;
  float* o = out + r * a.Dv;
  for (int64_t e = 0; e < a.Dv; ++e) o[e] = 0.f;
  float* wrow = weights ? weights + r * (a.source_weights ? a.S : W) : nullptr;
  if (wrow)
    for (int64_t j = 0; j < (a.source_weights ? a.S : W); ++j) wrow[j] = 0.f;
  if (hi <= lo) return;
  const float* qr = q + r * a.Dk;
  float mx = -INFINITY;
  for (int64_t j = lo; j < hi; ++j) {
    float dot = 0.f;
    for (int64_t e = 0; e < a.Dk; ++e) dot += qr[e] * k[(b * a.S + j) * a.Dk + e];
    mx = fmaxf(mx, dot * a.scale);
  }
  float sum = 0.f;
  for (int64_t j = lo; j < hi; ++j) {
    float dot = 0.f;
    for (int64_t e = 0; e < a.Dk; ++e) dot += qr[e] * k[(b * a.S + j) * a.Dk + e];
    sum += expf(dot * a.scale - mx);
  }
  for (int64_t j = lo; j < hi; ++j) {
    float dot = 0.f;
    for (int64_t e = 0; e < a.Dk; ++e) dot += qr[e] * k[(b * a.S + j) * a.Dk + e];
    float w = expf(dot * a.scale - mx) / sum;
    if (a.predictive) w *= float(exp(-(double(j) - p) * (double(j) - p) / (2 * a.sigma * a.sigma)));
    if (wrow) wrow[a.source_weights ? j : j - first] = w;
    for (int64_t e = 0; e < a.Dv; ++e) o[e] += w * v[(b * a.S + j) * a.Dv + e];
  }
}

}  // namespace

void additive_scores(const float* qa, const float* ka, const float* v, float* scores, int64_t B, int64_t T, int64_t S,
                     int64_t A, cudaStream_t stream) {
  const int64_t n = B * T * S;
  if (n > 0) additive_scores_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(qa, ka, v, scores, B, T, S, A);
}

void local_attention(const LocalAttentionArgs& a, const float* q, const float* k, const float* v, const float* hp,
                     const float* vp, float* out, float* weights, cudaStream_t stream) {
  const int64_t rows = a.B * a.T;
  if (rows > 0) local_attention_kernel<<<unsigned((rows + 127) / 128), 128, 0, stream>>>(a, q, k, v, hp, vp, out, weights);
}

}  // namespace heed::cuda
