#include "backends/cpu/flash_attention.h"

// GCC 12's AVX-512 intrinsics pass `undefined` vectors that -Wmaybe-uninitialized
// takes for uninitialized reads once inlined (GCC bug 105593, fixed in GCC 13).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "engine/cpu_isa.h"

namespace heed::cpu {
namespace {

constexpr int64_t D = 64;  // head size
constexpr int kGroups = 2;            // vectors of 16 queries a tile
constexpr int kLanes = 16 * kGroups;  // queries a tile, one per vector lane
constexpr int kKeys = 32;             // keys a tile, scored 8 at a time

int64_t padded(int64_t L) { return (L + kKeys - 1) / kKeys * kKeys; }

// exp(x) for x <= 0 (a score minus its row's max), -inf or NaN, with
// engine/fast_math.h's exp_approx polynomial: below -87 (a hidden key's -inf
// too) 0, NaN stays NaN. 15 instructions for 16 lanes.
HEED_AVX512 inline __m512 exp16(__m512 x) {
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.f), _CMP_NLT_UQ);  // NaN kept
  const __m512 c = _mm512_max_ps(_mm512_set1_ps(-87.f), x);  // NaN: max returns its second operand
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), c);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_maskz_scalef_ps(keep, p, n);
}

// One thread's scratch. For the scores, queries sit in vector lanes: qt[d] holds
// the tile's 32 queries' d-th (scaled) element (two vectors), so that a query's
// max and sum over keys are lane-wise (no reductions across lanes) and each
// score vector is a sum of qt[d] times broadcast key elements. The contexts are
// rows, up to six made at once from a value row's four vectors and broadcast
// probabilities.
struct Tiles {
  alignas(64) float qt[D][kLanes];
  alignas(64) float o[kLanes][D];  // the queries' contexts, a row each
  alignas(64) float p[kKeys][kLanes];  // the tile's probabilities, key-major
  alignas(64) float mask[kLanes][kKeys];
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

// t.p[at + j] (the tile's queries' scores) = q . key j0 + j for 8 keys: 16
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
    for (int g = 0; g < kGroups; ++g) _mm512_store_ps(t.p[at + j] + 16 * g, s[j][g]);
}

// o[q] = o[q] * rescale[q] + sum over the tile's keys of p[j][q] * value[j0 + j]
// for R queries from q0: each value row's four vectors serve all R (R = 6: 24
// accumulators, 10 loads for 24 multiply-adds).
template <int R>
HEED_AVX512 inline void context_rows(Tiles& t, const float* v, int cols, int q0, const float* rescale) {
  __m512 o[R][4];
#pragma GCC unroll 6
  for (int q = 0; q < R; ++q) {
    const __m512 f = _mm512_set1_ps(rescale[q0 + q]);
#pragma GCC unroll 4
    for (int e = 0; e < 4; ++e) o[q][e] = _mm512_mul_ps(_mm512_load_ps(t.o[q0 + q] + 16 * e), f);
  }
  for (int j = 0; j < cols; ++j) {
    const float* vj = v + j * D;
    const __m512 v0 = _mm512_load_ps(vj), v1 = _mm512_load_ps(vj + 16), v2 = _mm512_load_ps(vj + 32),
                 v3 = _mm512_load_ps(vj + 48);
#pragma GCC unroll 6
    for (int q = 0; q < R; ++q) {
      const __m512 p = _mm512_set1_ps(t.p[j][q0 + q]);
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

HEED_AVX512 inline void context_tile(Tiles& t, int64_t j0, int cols, int rows, const float* rescale) {
  const float* v = t.values + j0 * D;
  int q0 = 0;
  for (; q0 + 6 <= rows; q0 += 6) context_rows<6>(t, v, cols, q0, rescale);
  if (q0 + 4 <= rows) context_rows<4>(t, v, cols, q0, rescale), q0 += 4;
  if (q0 + 2 <= rows) context_rows<2>(t, v, cols, q0, rescale), q0 += 2;
  if (q0 < rows) context_rows<1>(t, v, cols, q0, rescale);
}

HEED_AVX512 inline void add_to(float* s, __m512 x) { _mm512_store_ps(s, _mm512_add_ps(_mm512_load_ps(s), x)); }

// Adds the masks to the tile's scores in t.p: key padding and causality as
// vectors, attn_mask and the broadcast bias read a query row at a time into
// t.mask first.
HEED_AVX512 void add_masks(const FlashAttention& a, Tiles& t, int64_t b, int64_t h, int64_t t0, int rows, int64_t j0,
                           int cols) {
  const AttentionMasks& m = *a.masks;
  if (m.key_padding) {
    const float* kp = m.key_padding + b / m.key_padding_group * a.mask_stride + j0;
    for (int j = 0; j < cols; ++j)
      for (int g = 0; g < kGroups; ++g) add_to(t.p[j] + 16 * g, _mm512_set1_ps(kp[j]));
  }
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  if (m.attn_mask || m.bias) {
    for (int r = 0; r < rows; ++r) {
      const float* am = m.attn_mask ? m.attn_mask + (t0 + r) * a.mask_stride + j0 : nullptr;
      const float* bm = m.bias ? m.bias + b * m.bias_strides[0] + h * m.bias_strides[1] + (t0 + r) * m.bias_strides[2] + j0
                               : nullptr;
      for (int j = 0; j < cols; ++j) t.mask[r][j] = (am ? am[j] : 0.f) + (bm ? bm[j] : 0.f);
    }
    const __m512i lane_rows = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(kKeys));
    for (int g = 0; g < kGroups; ++g) {
      const int live_rows = std::clamp(rows - 16 * g, 0, 16);
      const __mmask16 live = __mmask16((1u << live_rows) - 1);
      for (int j = 0; j < cols; ++j)
        add_to(t.p[j] + 16 * g, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, lane_rows, &t.mask[16 * g][j], 4));
    }
  }
  if (m.causal)  // query t0 + lane sees key j0 + j while j0 + j <= query_offset + t0 + lane
    for (int g = 0; g < kGroups; ++g)
      for (int j = 0; j < cols; ++j) {
        const __mmask16 hidden =
            _mm512_cmplt_epi32_mask(lanes, _mm512_set1_epi32(int(j0 + j - m.query_offset - t0 - 16 * g)));
        float* s = t.p[j] + 16 * g;
        _mm512_store_ps(s, _mm512_mask_mov_ps(_mm512_load_ps(s), hidden, _mm512_set1_ps(-INFINITY)));
      }
}

// Lane group g's scores in t.p become probabilities against its running max,
// its sum rescaled to that max; returns the rescale factor.
HEED_AVX512 inline __m512 online_softmax(Tiles& t, int g, int cols, __m512& run_max, __m512& run_sum) {
  __m512 tile_max = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < cols; ++j) tile_max = _mm512_max_ps(tile_max, _mm512_load_ps(t.p[j] + 16 * g));
  const __m512 new_max = _mm512_max_ps(run_max, tile_max);
  // A query that has seen no visible key yet keeps max -inf: exp against 0 gives it zeros.
  const __m512 base = _mm512_mask_mov_ps(new_max, _mm512_cmp_ps_mask(new_max, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ),
                                         _mm512_setzero_ps());
  const __m512 rescale = exp16(_mm512_sub_ps(run_max, base));
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < cols; ++j) {
    float* s = t.p[j] + 16 * g;
    const __m512 p = exp16(_mm512_sub_ps(_mm512_load_ps(s), base));
    _mm512_store_ps(s, p);
    sum = _mm512_add_ps(sum, p);
  }
  run_sum = _mm512_fmadd_ps(run_sum, rescale, sum);
  run_max = new_max;
  return rescale;
}

// Queries [t0, t0 + rows) of head (b, h) against its keys.
HEED_AVX512 void query_tile(const FlashAttention& a, Tiles& t, int64_t b, int64_t h, int64_t t0, int rows) {
  const float* q = a.q + b * a.qv.strides[0] + h * a.qv.strides[1] + t0 * a.qv.strides[2];
  for (int64_t d = 0; d < D; ++d)
    for (int r = 0; r < kLanes; ++r) t.qt[d][r] = r < rows ? q[r * a.qv.strides[2] + d] * a.scale : 0.f;
  std::fill(&t.o[0][0], &t.o[0][0] + D * kLanes, 0.f);
  const AttentionMasks& m = *a.masks;
  const bool masked = m.key_padding || m.attn_mask || m.bias || m.causal;
  // Causal: no key after the last query's own position is visible to any of them.
  const int64_t keys = m.causal ? std::clamp<int64_t>(m.query_offset + t0 + rows, 0, a.L) : a.L;
  __m512 run_max[kGroups], run_sum[kGroups];
  for (int g = 0; g < kGroups; ++g) run_max[g] = _mm512_set1_ps(-INFINITY), run_sum[g] = _mm512_setzero_ps();
  alignas(64) float rescale[kLanes];
  for (int64_t j0 = 0; j0 < keys; j0 += kKeys) {
    const int cols = int(std::min<int64_t>(kKeys, keys - j0));
    for (int at = 0; at < cols; at += 8) score_block(t, j0 + at, at);
    if (masked) add_masks(a, t, b, h, t0, rows, j0, cols);
    for (int g = 0; g < kGroups; ++g) _mm512_store_ps(rescale + 16 * g, online_softmax(t, g, cols, run_max[g], run_sum[g]));
    context_tile(t, j0, cols, rows, rescale);
  }
  // out = o / sum; a query with no visible key gets zeros.
  alignas(64) float inv[kLanes];
  for (int g = 0; g < kGroups; ++g)
    _mm512_store_ps(inv + 16 * g, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(run_sum[g], _mm512_setzero_ps(), _CMP_GT_OQ),
                                                      _mm512_set1_ps(1.f), run_sum[g]));
  float* o = a.o + b * a.ov.strides[0] + h * a.ov.strides[1] + t0 * a.ov.strides[2];
  for (int r = 0; r < rows; ++r)
    for (int64_t e = 0; e < D; e += 16)
      _mm512_storeu_ps(o + r * a.ov.strides[2] + e, _mm512_mul_ps(_mm512_load_ps(t.o[r] + e), _mm512_set1_ps(inv[r])));
}

// One task: head (b, h)'s keys and values packed, then its query tiles [first, last).
HEED_AVX512 void run_task(const FlashAttention& a, Tiles& t, int64_t b, int64_t h, int64_t first, int64_t last) {
  pack_rows(a.k + b * a.kv.strides[0] + h * a.kv.strides[1], a.kv.strides[2], a.L, t.keys, t.lp);
  pack_rows(a.v + b * a.vv.strides[0] + h * a.vv.strides[1], a.vv.strides[2], a.L, t.values, t.lp);
  for (int64_t tile = first; tile < last; ++tile) {
    const int64_t t0 = tile * kLanes;
    query_tile(a, t, b, h, t0, int(std::min<int64_t>(kLanes, a.T - t0)));
  }
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

// Tasks: (batch item, head, a range of query tiles); heads are split into
// ranges only when there are fewer of them than threads.
void flash_attention_avx512(const FlashAttention& a, float* workspace, int threads) {
  const int64_t heads = a.B * a.H, tiles = (a.T + kLanes - 1) / kLanes;
  const int64_t splits = std::min<int64_t>(tiles, std::max<int64_t>(1, (threads + heads - 1) / heads));
  const int64_t per = (tiles + splits - 1) / splits, lp = padded(a.L);
  const size_t stride = flash_thread_floats(a.L);
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
  for (int64_t task = 0; task < heads * splits; ++task) {
    float* mine = workspace + size_t(omp_get_thread_num()) * stride;
    Tiles& t = *reinterpret_cast<Tiles*>(mine + 2 * D * lp);
    t.keys = mine, t.values = mine + D * lp, t.lp = lp;
    const int64_t bh = task / splits, part = task % splits;
    run_task(a, t, bh / a.H, bh % a.H, part * per, std::min(tiles, (part + 1) * per));
  }
}

}  // namespace heed::cpu
