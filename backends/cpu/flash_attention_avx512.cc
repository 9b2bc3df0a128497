#include "backends/cpu/flash_attention.h"

// GCC 12's AVX-512 intrinsics pass `undefined` vectors that -Wmaybe-uninitialized
// takes for uninitialized reads once inlined (GCC bug 105593, fixed in GCC 13).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "backends/cpu/flash_tile.h"
#include "engine/cpu_isa.h"

namespace heed::cpu {
namespace {

using namespace flash;

// One thread's scratch. For the scores, queries sit in vector lanes: qt[d] holds
// the tile's 32 queries' d-th (scaled) element (two vectors), so that a query's
// max and sum over keys are lane-wise (no reductions across lanes) and each
// score vector is a sum of qt[d] times broadcast key elements. The contexts are
// rows, up to six made at once from a value row's four vectors and broadcast
// probabilities.
struct Tiles {
  alignas(64) float qt[D][kLanes];
  alignas(64) float o[kLanes][D];  // the queries' contexts, a row each
  ScoreTile s;  // the tile's scores, then probabilities
  float* keys;    // the head's keys [lp][D], zero rows after L
  float* values;  // its values, likewise
  int64_t lp;
};

// rows [0, L) of a [L, D] view with row stride `stride` into [lp, D], zero rows after.
HEED_AVX512 void pack_rows(const float* x, int64_t stride, int64_t L, float* out, int64_t lp) {
  for (int64_t j = 0; j < lp; ++j)
    for (int64_t e = 0; e < D; e += 16)
      _mm512_storeu_ps(out + j * D + e, j < L ? _mm512_loadu_ps(x + j * stride + e) : _mm512_setzero_ps());
}

// The tile's queries transposed into t.qt, scaled: per lane group and 16 d,
// 16 query rows transposed (element by element, the core ran 1.1x as long at
// length 128).
HEED_AVX512 void pack_queries(const FlashAttention& a, Tiles& t, const float* q, int rows) {
  const __m512 scale = _mm512_set1_ps(a.scale);
  for (int g = 0; g < kGroups; ++g)
    for (int d0 = 0; d0 < D; d0 += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * g + i;
        r[i] = row < rows ? _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(q + row * a.qv.strides[2] + d0), scale))
                          : _mm512_setzero_si512();
      }
      transpose16(r);
      for (int d = 0; d < 16; ++d) _mm512_store_si512(t.qt[d0 + d] + 16 * g, r[d]);
    }
}

// t.s.p[at + j] (the tile's queries' scores) = q . key j0 + j for 8 keys: 16
// accumulators, each key element broadcast once for both query vectors.
HEED_AVX512 inline void score_block(Tiles& t, int64_t j0, int at) {
  const float* k = t.keys + j0 * D;
  __m512 s[8][kGroups];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j)
#pragma GCC unroll 2
    for (int g = 0; g < kGroups; ++g) s[j][g] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    __m512 q[kGroups];
#pragma GCC unroll 2
    for (int g = 0; g < kGroups; ++g) q[g] = _mm512_load_ps(t.qt[d] + 16 * g);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m512 kd = _mm512_set1_ps(k[j * D + d]);
#pragma GCC unroll 2
      for (int g = 0; g < kGroups; ++g) s[j][g] = _mm512_fmadd_ps(kd, q[g], s[j][g]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j)
#pragma GCC unroll 2
    for (int g = 0; g < kGroups; ++g) _mm512_store_ps(t.s.p[at + j] + 16 * g, s[j][g]);
}

// o[q] = o[q] * rescale[q] + sum over the tile's keys of p[j][q] * value[j0 + j]
// for R queries from q0: each value row's four vectors serve all R (R = 6: 24
// accumulators, 10 loads for 24 multiply-adds). kRescale false: all the
// rescale factors are 1 (no query's max rose in this key tile), and the
// multiplies are left out (the core 5-10% faster at length 128).
template <int R, bool kRescale>
HEED_AVX512 inline void context_rows(Tiles& t, const float* v, int cols, int q0, const float* rescale) {
  __m512 o[R][4];
#pragma GCC unroll 6
  for (int q = 0; q < R; ++q) {
    const __m512 f = _mm512_set1_ps(rescale[q0 + q]);
#pragma GCC unroll 4
    for (int e = 0; e < 4; ++e)
      o[q][e] = kRescale ? _mm512_mul_ps(_mm512_load_ps(t.o[q0 + q] + 16 * e), f) : _mm512_load_ps(t.o[q0 + q] + 16 * e);
  }
  for (int j = 0; j < cols; ++j) {
    const float* vj = v + j * D;
    const __m512 v0 = _mm512_load_ps(vj), v1 = _mm512_load_ps(vj + 16), v2 = _mm512_load_ps(vj + 32),
                 v3 = _mm512_load_ps(vj + 48);
#pragma GCC unroll 6
    for (int q = 0; q < R; ++q) {
      const __m512 p = _mm512_set1_ps(t.s.p[j][q0 + q]);
      o[q][0] = _mm512_fmadd_ps(p, v0, o[q][0]);
      o[q][1] = _mm512_fmadd_ps(p, v1, o[q][1]);
      o[q][2] = _mm512_fmadd_ps(p, v2, o[q][2]);
      o[q][3] = _mm512_fmadd_ps(p, v3, o[q][3]);
    }
  }
#pragma GCC unroll 6
  for (int q = 0; q < R; ++q)
#pragma GCC unroll 4
    for (int e = 0; e < 4; ++e) _mm512_store_ps(t.o[q0 + q] + 16 * e, o[q][e]);
}

template <bool kRescale>
HEED_AVX512 inline void context_tile(Tiles& t, int64_t j0, int cols, int rows, const float* rescale) {
  const float* v = t.values + j0 * D;
  int q0 = 0;
  for (; q0 + 6 <= rows; q0 += 6) context_rows<6, kRescale>(t, v, cols, q0, rescale);
  if (q0 + 4 <= rows) context_rows<4, kRescale>(t, v, cols, q0, rescale), q0 += 4;
  if (q0 + 2 <= rows) context_rows<2, kRescale>(t, v, cols, q0, rescale), q0 += 2;
  if (q0 < rows) context_rows<1, kRescale>(t, v, cols, q0, rescale);
}

// Queries [t0, t0 + rows) of head (b, h) against its keys.
HEED_AVX512 void query_tile(const FlashAttention& a, Tiles& t, int64_t b, int64_t h, int64_t t0, int rows) {
  pack_queries(a, t, a.q + b * a.qv.strides[0] + h * a.qv.strides[1] + t0 * a.qv.strides[2], rows);
  std::fill(&t.o[0][0], &t.o[0][0] + D * kLanes, 0.f);
  const bool any_mask = masked(a);
  const int64_t keys = visible_keys(a, t0, rows);
  __m512 run_max[kGroups], run_sum[kGroups];
  for (int g = 0; g < kGroups; ++g) run_max[g] = _mm512_set1_ps(-INFINITY), run_sum[g] = _mm512_setzero_ps();
  alignas(64) float rescale[kLanes];
  for (int64_t j0 = 0; j0 < keys; j0 += kKeys) {
    const int cols = int(std::min<int64_t>(kKeys, keys - j0));
    for (int at = 0; at < cols; at += 8) score_block(t, j0 + at, at);
    if (any_mask) add_masks(a, t.s, b, h, t0, rows, j0, cols);
    __mmask16 rescaled = 0;
    for (int g = 0; g < kGroups; ++g) {
      const __m512 r = online_softmax<ExactExp>(t.s, g, cols, run_max[g], run_sum[g], FloatProbabilities{t.s, g});
      _mm512_store_ps(rescale + 16 * g, r);
      rescaled |= _mm512_cmp_ps_mask(r, _mm512_set1_ps(1.f), _CMP_NEQ_UQ);
    }
    if (rescaled) context_tile<true>(t, j0, cols, rows, rescale);
    else context_tile<false>(t, j0, cols, rows, rescale);
  }
  // out = o / sum; a query with no visible key gets zeros.
  alignas(64) float inv[kLanes];
  for (int g = 0; g < kGroups; ++g) _mm512_store_ps(inv + 16 * g, inverse_sums(run_sum[g]));
  float* o = a.o + b * a.ov.strides[0] + h * a.ov.strides[1] + t0 * a.ov.strides[2];
  for (int r = 0; r < rows; ++r)
    for (int64_t e = 0; e < D; e += 16)
      _mm512_storeu_ps(o + r * a.ov.strides[2] + e, _mm512_mul_ps(_mm512_load_ps(t.o[r] + e), _mm512_set1_ps(inv[r])));
}

HEED_AVX512 void pack_head(const FlashAttention& a, Tiles& t, int64_t b, int64_t h) {
  pack_rows(a.k + b * a.kv.strides[0] + h * a.kv.strides[1], a.kv.strides[2], a.L, t.keys, t.lp);
  pack_rows(a.v + b * a.vv.strides[0] + h * a.vv.strides[1], a.vv.strides[2], a.L, t.values, t.lp);
}

}  // namespace

bool flash_attention_fits(const AttentionDims& d, const View4& q, const View4& k, const View4& v, const View4& o) {
  return d.Dk == D && d.Dv == D && d.kv_group == 1 && q.strides[3] == 1 && k.strides[3] == 1 && v.strides[3] == 1 &&
         o.strides[3] == 1;
}

size_t flash_thread_floats(int64_t L) {  // a multiple of 16: each thread's share starts 64-byte aligned
  const size_t floats = size_t(2 * D * padded(L)) + (sizeof(Tiles) + sizeof(float) - 1) / sizeof(float);
  return (floats + 15) / 16 * 16;
}

void flash_attention_avx512(const FlashAttention& a, float* workspace, int threads) {
  const Tasks tasks(a, threads);
  const int64_t lp = padded(a.L);
  const size_t stride = flash_thread_floats(a.L);
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
  for (int64_t task = 0; task < tasks.count(); ++task) {
    float* mine = workspace + size_t(omp_get_thread_num()) * stride;
    Tiles& t = *reinterpret_cast<Tiles*>(mine + 2 * D * lp);
    t.keys = mine, t.values = mine + D * lp, t.lp = lp;
    int64_t b, h, first, last;
    tasks.of(a, task, b, h, first, last);
    run_task<pack_head, query_tile>(a, t, b, h, first, last);
  }
}

}  // namespace heed::cpu
