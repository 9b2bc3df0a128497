// Generation's per-step scoring on the GPU (CudaBackend::best_candidates): one
// block per row computes the row's log-softmax and picks its best candidates in
// `keep` passes, so only [rows, keep] scores and indices leave the device.
#include <cfloat>
#include <cstdint>

#include "backends/cuda/cuda_kernels.h"

namespace heed::cuda {
namespace {

constexpr int kThreads = 256;

struct Pick {
  float score;
  int64_t index;
};
// transformers' order: higher score first, then the lower index
__device__ bool better(const Pick& a, const Pick& b) { return a.score != b.score ? a.score > b.score : a.index < b.index; }

__device__ float block_reduce(float v, bool max, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s)
      shared[threadIdx.x] = max ? fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]) : shared[threadIdx.x] + shared[threadIdx.x + s];
    __syncthreads();
  }
  const float r = shared[0];
  __syncthreads();
  return r;
}

__global__ void best_candidates_kernel(const float* logits, int64_t vocab, int64_t keep, const float* base, int64_t hold,
                                       int64_t forced, float* scores, int64_t* indices) {
  __shared__ float sums[kThreads];
  __shared__ Pick picks[kThreads];
  const int64_t r = blockIdx.x;
  const float* row = logits + r * vocab;
  const float b = base ? base[r] : 0.f;
  float* out_score = scores + r * keep;
  int64_t* out_index = indices + r * keep;
  if (forced >= 0) {  // only the forced token is possible; the rest follow at -inf in index order
    if (threadIdx.x == 0) {
      out_score[0] = b, out_index[0] = forced;
      for (int64_t j = 1, v = 0; j < keep && v < vocab; ++v)
        if (v != forced) out_score[j] = -INFINITY, out_index[j++] = v;
    }
    return;
  }
  float m = -INFINITY;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) m = fmaxf(m, row[v]);
  m = block_reduce(m, true, sums);
  float sum = 0.f;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) sum += expf(row[v] - m);
  const float lse = logf(block_reduce(sum, false, sums)) + m;
  Pick prev{INFINITY, -1};  // ahead of every candidate
  for (int64_t j = 0; j < keep; ++j) {
    Pick best{-INFINITY, INT64_MAX};
    for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
      const Pick c{v == hold ? -INFINITY : (row[v] - lse) + b, v};
      if (better(prev, c) && better(c, best)) best = c;
    }
    picks[threadIdx.x] = best;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
      if (threadIdx.x < s && better(picks[threadIdx.x + s], picks[threadIdx.x])) picks[threadIdx.x] = picks[threadIdx.x + s];
      __syncthreads();
    }
    prev = picks[0];
    if (threadIdx.x == 0) out_score[j] = prev.score, out_index[j] = prev.index;
    __syncthreads();
  }
}

}  // namespace

void best_candidates(const float* logits, int64_t rows, int64_t vocab, int64_t keep, const float* base, int64_t hold,
                     int64_t forced, float* scores, int64_t* indices, cudaStream_t stream) {
  if (rows > 0 && keep > 0)
    best_candidates_kernel<<<unsigned(rows), kThreads, 0, stream>>>(logits, vocab, keep, base, hold, forced, scores, indices);
}

}  // namespace heed::cuda
