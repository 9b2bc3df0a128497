#pragma once
// What heed's two flash-style attention kernels share: fp32 on AVX-512 FMAs
// (flash_attention_avx512.cc) and bf16 on AMX tiles (flash_attention_amx.cc).
// A tile is 32 queries, one per vector lane (two vectors), against 32 keys; its
// scores are key-major (p[j] holds key j's scores for the tile's queries), so
// that the masks and the online softmax (a running max and sum per query) work
// lane-wise, with no reductions across lanes. Include only from files whose
// callers are compiled for AVX-512 (these functions are HEED_AVX512).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/cpu/flash_attention.h"
#include "engine/cpu_isa.h"

namespace heed::cpu::flash {

constexpr int64_t D = 64;             // head size
constexpr int kGroups = 2;            // vectors of 16 queries a tile
constexpr int kLanes = 16 * kGroups;  // queries a tile, one per vector lane
constexpr int kKeys = 32;             // keys a tile

inline int64_t padded(int64_t L) { return (L + kKeys - 1) / kKeys * kKeys; }

// A tile's scores, then its probabilities, key-major; the masks' scratch.
struct ScoreTile {
  alignas(64) float p[kKeys][kLanes];
  alignas(64) float mask[kLanes][kKeys];
};

// 2^t for a vector t: t's fraction f = t - floor(t) in [0, 1) in one
// instruction (vreduceps; 0 for t = -inf), 2^f by a polynomial of the given
// coefficients (lowest first), scaled by 2^floor(t) in one more (vscalefps;
// 0 for t = -inf). Below t = -126 0 (no denormals), NaN stays NaN.
template <int N>
HEED_AVX512 inline __m512 exp2_poly(__m512 t, const float (&c)[N]) {
  const __mmask16 keep = _mm512_cmp_ps_mask(t, _mm512_set1_ps(-126.f), _CMP_NLT_UQ);  // NaN kept
  const __m512 f = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF);
  __m512 p = _mm512_set1_ps(c[N - 1]);
#pragma GCC unroll 8
  for (int i = N - 2; i >= 0; --i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[i]));
  return _mm512_maskz_scalef_ps(keep, p, t);
}

// exp(x) for x <= 0 (a score minus its row's max), -inf or NaN: 2^(x log2 e)
// with 2^f by a degree-6 polynomial on [0, 1] (minimax-fitted, 8.4e-8 relative
// in fp32). Below -87 (a hidden key's -inf too) 0, NaN stays NaN. 11
// instructions for 16 lanes.
HEED_AVX512 inline __m512 exp16(__m512 x) {
  static constexpr float c[] = {1.f, 6.931470037e-01f, 2.402298301e-01f, 5.548334122e-02f,
                                9.678841569e-03f, 1.243968727e-03f, 2.170223743e-04f};
  return exp2_poly(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), c);
}

// 16 vectors of 16 32-bit lanes transposed: r[i] lane j <- r[j] lane i.
HEED_AVX512 inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  for (int i = 0; i < 16; i += 4) {  // r[i + c], 128-bit lane l: column 4 l + c of rows i..i+3
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]), r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]), r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  __m512i u[16];
  for (int i = 0; i < 16; ++i) u[i] = r[i];
  for (int c = 0; c < 4; ++c) {  // the 128-bit lanes of u[c], u[4 + c], u[8 + c], u[12 + c] transposed
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88), r[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    r[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88), r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

HEED_AVX512 inline void add_to(float* s, __m512 x) { _mm512_store_ps(s, _mm512_add_ps(_mm512_load_ps(s), x)); }

// Adds the masks to the tile's scores of lane groups [g0, g1): key padding and
// causality as vectors, attn_mask and the broadcast bias read a query row at a
// time into t.mask first.
HEED_AVX512 inline void add_masks(const FlashAttention& a, ScoreTile& t, int64_t b, int64_t h, int64_t t0, int rows,
                                  int64_t j0, int cols, int g0 = 0, int g1 = kGroups) {
  const AttentionMasks& m = *a.masks;
  if (m.key_padding) {
    const float* kp = m.key_padding + b / m.key_padding_group * a.mask_stride + j0;
    for (int j = 0; j < cols; ++j)
      for (int g = g0; g < g1; ++g) add_to(t.p[j] + 16 * g, _mm512_set1_ps(kp[j]));
  }
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  if (m.attn_mask || m.bias) {
    for (int r = 16 * g0; r < std::min(rows, 16 * g1); ++r) {
      const float* am = m.attn_mask ? m.attn_mask + (t0 + r) * a.mask_stride + j0 : nullptr;
      const float* bm = m.bias ? m.bias + b * m.bias_strides[0] + h * m.bias_strides[1] + (t0 + r) * m.bias_strides[2] + j0
                               : nullptr;
      for (int j = 0; j < cols; ++j) t.mask[r][j] = (am ? am[j] : 0.f) + (bm ? bm[j] : 0.f);
    }
    const __m512i lane_rows = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(kKeys));
    for (int g = g0; g < g1; ++g) {
      const int live_rows = std::clamp(rows - 16 * g, 0, 16);
      const __mmask16 live = __mmask16((1u << live_rows) - 1);
      for (int j = 0; j < cols; ++j)
        add_to(t.p[j] + 16 * g, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, lane_rows, &t.mask[16 * g][j], 4));
    }
  }
  if (m.causal)  // query t0 + lane sees key j0 + j while j0 + j <= query_offset + t0 + lane
    for (int g = g0; g < g1; ++g)
      for (int j = 0; j < cols; ++j) {
        const __mmask16 hidden =
            _mm512_cmplt_epi32_mask(lanes, _mm512_set1_epi32(int(j0 + j - m.query_offset - t0 - 16 * g)));
        float* s = t.p[j] + 16 * g;
        _mm512_store_ps(s, _mm512_mask_mov_ps(_mm512_load_ps(s), hidden, _mm512_set1_ps(-INFINITY)));
      }
}

inline bool masked(const FlashAttention& a) {
  const AttentionMasks& m = *a.masks;
  return m.key_padding || m.attn_mask || m.bias || m.causal;
}

// The keys any of queries [t0, t0 + rows) sees: causal ones see none after the
// last query's own position.
inline int64_t visible_keys(const FlashAttention& a, int64_t t0, int rows) {
  const AttentionMasks& m = *a.masks;
  return m.causal ? std::clamp<int64_t>(m.query_offset + t0 + rows, 0, a.L) : a.L;
}

// exp(x - base) for the fp32 kernel: exp16, to 1e-7 relative.
struct ExactExp {
  static constexpr float kHeadroom = 0;  // every new max is taken (the rescale costs nothing: see context_rows)
  __m512 base;
  HEED_AVX512 explicit ExactExp(__m512 b) : base(b) {}
  HEED_AVX512 __m512 operator()(__m512 x) const { return exp16(_mm512_sub_ps(x, base)); }
};

// exp(x - base) for probabilities rounded to bf16 afterwards (2^-9): 2^t with
// t = (x - base) log2 e in one multiply-subtract and 2^f by a degree-3
// polynomial on [0, 1] (7.5e-5 relative). 7 instructions for 16 lanes.
struct Bf16Exp {
  // A query's max is raised only when a tile's passes it by more than this
  // (probabilities then reach e^8, far inside bf16's range; sums in fp32):
  // most tiles then leave the running contexts unscaled.
  static constexpr float kHeadroom = 8;
  __m512 base_log2e;
  HEED_AVX512 explicit Bf16Exp(__m512 base) : base_log2e(_mm512_mul_ps(base, _mm512_set1_ps(1.44269504088896341f))) {}
  HEED_AVX512 __m512 operator()(__m512 x) const {
    static constexpr float c[] = {9.999251366e-01f, 6.958340406e-01f, 2.260668725e-01f, 7.802421600e-02f};
    return exp2_poly(_mm512_fmsub_ps(x, _mm512_set1_ps(1.44269504088896341f), base_log2e), c);
  }
};

// Where online_softmax puts lane group g's probabilities: back into the tile
// in fp32 (the fp32 kernel), or as bf16 pairs of keys (2i, 2i + 1) per query
// lane, the AMX kernel's tile operand, zeros after the last key.
struct FloatProbabilities {
  ScoreTile& t;
  int g;
  HEED_AVX512 void two(int j, __m512 a, __m512 b) const {
    _mm512_store_ps(t.p[j] + 16 * g, a);
    _mm512_store_ps(t.p[j + 1] + 16 * g, b);
  }
  HEED_AVX512 void last(int j, __m512 a) const { _mm512_store_ps(t.p[j] + 16 * g, a); }
  void finish(int) const {}
};

struct PairedProbabilities {
  uint32_t (*pairs)[kLanes];  // [kKeys / 2][kLanes]
  int g;
  // bf16 of a in the low half of each 32-bit lane, of b in the high half: each
  // rounded to nearest (ties away from zero: + 2^15, then the high 16 bits).
  HEED_AVX512 static __m512i pack(__m512 a, __m512 b) {
    const __m512i half = _mm512_set1_epi32(0x8000);
    const __m512i high_words = _mm512_set_epi16(63, 31, 61, 29, 59, 27, 57, 25, 55, 23, 53, 21, 51, 19, 49, 17, 47, 15,
                                                45, 13, 43, 11, 41, 9, 39, 7, 37, 5, 35, 3, 33, 1);
    return _mm512_permutex2var_epi16(_mm512_add_epi32(_mm512_castps_si512(a), half), high_words,
                                     _mm512_add_epi32(_mm512_castps_si512(b), half));
  }
  HEED_AVX512 void two(int j, __m512 a, __m512 b) const { _mm512_store_si512(pairs[j / 2] + 16 * g, pack(a, b)); }
  HEED_AVX512 void last(int j, __m512 a) const { two(j, a, _mm512_setzero_ps()); }
  HEED_AVX512 void finish(int cols) const {
    for (int i = (cols + 1) / 2; i < kKeys / 2; ++i) _mm512_store_si512(pairs[i] + 16 * g, _mm512_setzero_si512());
  }
};

// Key j's scores of a lane group whose first key's are at `at`.
HEED_AVX512 inline __m512 key_scores(const float* at, int j) { return _mm512_load_ps(at + j * kLanes); }

// online_softmax's steps: step(k) runs before the k-th four keys'
// exponentials, k = 0 .. kSteps - 1 (those left over at the end, after the
// last key): the AMX kernel issues its tile instructions there, spread
// through the vector work.
constexpr int kSteps = kKeys / 4;
struct NoSteps {
  void operator()(int) const {}
};

// Lane group g's scores in t.p become probabilities against its running max
// (put in `out`), its sum rescaled to that max; returns the rescale factor.
// Four running maxima and sums, so that no single chain of dependent additions
// sets the pace.
template <typename Exp, typename Out, typename Steps = NoSteps>
HEED_AVX512 inline __m512 online_softmax(ScoreTile& t, int g, int cols, __m512& run_max, __m512& run_sum,
                                         const Out& to, const Steps& step = {}) {
  // Key j's scores for group g at at + j * kLanes. `out` a local copy: its stores
  // then cannot change where it stores (the compiler reloaded its fields after
  // each store, a quarter of the loop's instructions).
  const float* at = t.p[0] + 16 * g;
  const Out out = to;
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int j = 0;
  for (; j + 4 <= cols; j += 4) {
    m0 = _mm512_max_ps(m0, key_scores(at, j)), m1 = _mm512_max_ps(m1, key_scores(at, j + 1));
    m2 = _mm512_max_ps(m2, key_scores(at, j + 2)), m3 = _mm512_max_ps(m3, key_scores(at, j + 3));
  }
  for (; j < cols; ++j) m0 = _mm512_max_ps(m0, key_scores(at, j));
  const __m512 tile_max = _mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3));
  __m512 new_max = _mm512_max_ps(run_max, tile_max);
  if (Exp::kHeadroom > 0)  // keep the old max unless the tile's passes it by more than the headroom
    new_max = _mm512_mask_mov_ps(
        run_max, _mm512_cmp_ps_mask(tile_max, _mm512_add_ps(run_max, _mm512_set1_ps(Exp::kHeadroom)), _CMP_GT_OQ),
        new_max);
  // A query that has seen no visible key yet keeps max -inf: exp against 0 gives it zeros.
  const Exp exp(_mm512_mask_mov_ps(new_max, _mm512_cmp_ps_mask(new_max, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ),
                                   _mm512_setzero_ps()));
  // Exactly 1 where the max stayed (an approximate exp need not give 1 there)
  // and where it was -inf (no key seen yet: the contexts and sum are still 0),
  // so that the AMX kernel can skip the rescale whenever all lanes give 1.
  const __mmask16 rose = _mm512_cmp_ps_mask(new_max, run_max, _CMP_NEQ_UQ) &
                         _mm512_cmp_ps_mask(run_max, _mm512_set1_ps(-INFINITY), _CMP_NEQ_UQ);
  const __m512 rescale = _mm512_mask_mov_ps(_mm512_set1_ps(1.f), rose, exp(run_max));
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int k = 0;
  for (j = 0; j + 4 <= cols; j += 4) {
    step(k++);
    const __m512 e0 = exp(key_scores(at, j)), e1 = exp(key_scores(at, j + 1));
    const __m512 e2 = exp(key_scores(at, j + 2)), e3 = exp(key_scores(at, j + 3));
    s0 = _mm512_add_ps(s0, e0), s1 = _mm512_add_ps(s1, e1), s2 = _mm512_add_ps(s2, e2), s3 = _mm512_add_ps(s3, e3);
    out.two(j, e0, e1);
    out.two(j + 2, e2, e3);
  }
  for (; j + 2 <= cols; j += 2) {
    const __m512 e0 = exp(key_scores(at, j)), e1 = exp(key_scores(at, j + 1));
    s0 = _mm512_add_ps(s0, e0), s1 = _mm512_add_ps(s1, e1);
    out.two(j, e0, e1);
  }
  if (j < cols) {
    const __m512 e0 = exp(key_scores(at, j));
    s0 = _mm512_add_ps(s0, e0);
    out.last(j, e0);
  }
  out.finish(cols);
  while (k < kSteps) step(k++);
  run_sum = _mm512_fmadd_ps(run_sum, rescale, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  run_max = new_max;
  return rescale;
}

// 1 / sum for each query of lane group g; 0 for one that saw no key.
HEED_AVX512 inline __m512 inverse_sums(__m512 run_sum) {
  return _mm512_maskz_div_ps(_mm512_cmp_ps_mask(run_sum, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(1.f), run_sum);
}

// The split of a call into tasks: (batch item, head, a range of query tiles);
// heads are split into ranges only when there are fewer of them than threads.
struct Tasks {
  int64_t heads, tiles, splits, per;
  Tasks(const FlashAttention& a, int threads)
      : heads(a.B * a.H), tiles((a.T + kLanes - 1) / kLanes),
        splits(std::min<int64_t>(tiles, std::max<int64_t>(1, (threads + heads - 1) / heads))),
        per((tiles + splits - 1) / splits) {}
  int64_t count() const { return heads * splits; }
  // Task i's batch item, head and its tiles [first, last).
  void of(const FlashAttention& a, int64_t i, int64_t& b, int64_t& h, int64_t& first, int64_t& last) const {
    const int64_t bh = i / splits, part = i % splits;
    b = bh / a.H, h = bh % a.H, first = part * per, last = std::min(tiles, (part + 1) * per);
  }
};

// One task of either kernel: head (b, h)'s keys and values packed
// (pack_head(a, t, b, h)), then its query tiles [first, last)
// (query_tile(a, t, b, h, first query, rows)).
template <auto pack_head, auto query_tile, typename Tiles>
void run_task(const FlashAttention& a, Tiles& t, int64_t b, int64_t h, int64_t first, int64_t last) {
  pack_head(a, t, b, h);
  for (int64_t tile = first; tile < last; ++tile)
    query_tile(a, t, b, h, tile * kLanes, int(std::min<int64_t>(kLanes, a.T - tile * kLanes)));
}

}  // namespace heed::cpu::flash
