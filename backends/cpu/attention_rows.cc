#include "backends/cpu/attention_rows.h"

// GCC 12's AVX-512 intrinsics pass `undefined` vectors that -Wmaybe-uninitialized
// takes for uninitialized reads once inlined (GCC bug 105593, fixed in GCC 13).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "engine/cpu_isa.h"
#include "engine/fast_math.h"

namespace heed::cpu {
namespace {

// The masks of query `at` over keys [j0, j0 + n), added a range at a time.
HEED_INLINE void add_masks(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m,
                           int64_t stride) {
  const float* kp = m.key_padding ? m.key_padding + at.b / m.key_padding_group * stride + j0 : nullptr;
  const float* am = m.attn_mask ? m.attn_mask + at.t * stride + j0 : nullptr;
  if (kp && am) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] += kp[j] + am[j];
  } else if (kp) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] += kp[j];
  } else if (am) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] += am[j];
  }
  if (m.bias) {
    const float* bm = m.bias + at.b * m.bias_strides[0] + at.h * m.bias_strides[1] + at.t * m.bias_strides[2] + j0;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] += bm[j];
  }
  if (m.causal)  // key j0 + j is visible to query t while j0 + j <= query_offset + t
    std::fill(row + std::clamp<int64_t>(m.query_offset + at.t + 1 - j0, 0, n), row + n, -INFINITY);
}

HEED_INLINE void masked_softmax(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m,
                                int64_t stride) {
  add_masks(row, n, at, j0, m, stride);
  const float max = max_of(row, n);
  if (max == -INFINITY) {  // nothing visible: zeros, as PyTorch's fully masked rows become
    std::fill(row, row + n, 0.f);
    return;
  }
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    row[j] = exp_approx(row[j] - max);
    sum += row[j];
  }
  const float inv = 1.f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

// The sum of a vector's lanes.
HEED_INLINE float lane_sum(__m128 x) {
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

// q . k over n floats, with AVX2 (heed's baseline): two 8-wide accumulators.
// Written out, because GCC left to itself vectorizes the loop over keys around
// it instead, with gathers (3x slower).
HEED_INLINE float dot_avx2(const float* q, const float* k, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(k + e), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e + 8), _mm256_loadu_ps(k + e + 8), a1);
  }
  if (e + 8 <= n) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(k + e), a0);
    e += 8;
  }
  a0 = _mm256_add_ps(a0, a1);
  float dot = lane_sum(_mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1)));
  for (; e < n; ++e) dot += q[e] * k[e];
  return dot;
}

// scores[j] = scale q . K[j], any head size.
HEED_INLINE void scores_any(const QueryRow& r) {
  for (int64_t j = 0; j < r.keys; ++j) r.scores[j] = dot_avx2(r.q, r.k + j * r.k_stride, r.dk) * r.scale;
}

// The same for a head size of 64 on AVX-512: q in four registers, four FMAs and
// one reduction a key.
HEED_AVX512 inline void scores_64_avx512(const QueryRow& r) {
  const __m512 q0 = _mm512_loadu_ps(r.q), q1 = _mm512_loadu_ps(r.q + 16), q2 = _mm512_loadu_ps(r.q + 32),
               q3 = _mm512_loadu_ps(r.q + 48);
  for (int64_t j = 0; j < r.keys; ++j) {
    const float* kr = r.k + j * r.k_stride;
    __m512 acc = _mm512_mul_ps(q0, _mm512_loadu_ps(kr));
    acc = _mm512_fmadd_ps(q1, _mm512_loadu_ps(kr + 16), acc);
    acc = _mm512_fmadd_ps(q2, _mm512_loadu_ps(kr + 32), acc);
    acc = _mm512_fmadd_ps(q3, _mm512_loadu_ps(kr + 48), acc);
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(acc, acc, 0x4E));  // 128-bit lanes: + the other half
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(acc, acc, 0xB1));  // + the neighbour lane
    r.scores[j] = lane_sum(_mm512_castps512_ps128(acc)) * r.scale;
  }
}

// The softmax and the weighted sum of V, once the scores are in; D: the value
// size when known at compile time (the common 64), else 0.
template <int64_t D>
HEED_INLINE void attend_scored(const QueryRow& r, const AttentionMasks& m, int64_t stride) {
  const int64_t dv = D ? D : r.dv;
  masked_softmax(r.scores, r.keys, r.index, 0, m, stride);
#pragma omp simd
  for (int64_t e = 0; e < dv; ++e) r.out[e] = 0.f;
  for (int64_t j = 0; j < r.keys; ++j) {
    const float p = r.scores[j], *vr = r.v + j * r.v_stride;
    if (p == 0.f) continue;
#pragma omp simd
    for (int64_t e = 0; e < dv; ++e) r.out[e] += p * vr[e];
  }
}

HEED_AVX512 void softmax_avx512(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m,
                                int64_t stride) {
  masked_softmax(row, n, at, j0, m, stride);
}
void softmax_avx2(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m, int64_t stride) {
  masked_softmax(row, n, at, j0, m, stride);
}
HEED_AVX512 void attend_avx512(const QueryRow& r, const AttentionMasks& m, int64_t stride) {
  if (r.dk == 64) scores_64_avx512(r);
  else scores_any(r);
  if (r.dv == 64) attend_scored<64>(r, m, stride);
  else attend_scored<0>(r, m, stride);
}
void attend_avx2(const QueryRow& r, const AttentionMasks& m, int64_t stride) {
  scores_any(r);
  if (r.dv == 64) attend_scored<64>(r, m, stride);
  else attend_scored<0>(r, m, stride);
}

}  // namespace

void masked_softmax_row(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m, int64_t mask_stride) {
  if (cpu_isa() == CpuIsa::avx512) softmax_avx512(row, n, at, j0, m, mask_stride);
  else softmax_avx2(row, n, at, j0, m, mask_stride);
}

void add_masks_row(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& masks, int64_t mask_stride) {
  add_masks(row, n, at, j0, masks, mask_stride);
}

void attend_row(const QueryRow& row, const AttentionMasks& masks, int64_t mask_stride) {
  if (cpu_isa() == CpuIsa::avx512) attend_avx512(row, masks, mask_stride);
  else attend_avx2(row, masks, mask_stride);
}

}  // namespace heed::cpu
