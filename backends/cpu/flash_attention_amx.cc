// The flash-style attention core in bf16 on AMX tiles (flash_attention.h).
// Both products are tile multiplies whose outputs keep queries in vector lanes,
// as the fp32 kernel's do, so that the masks and the online softmax are the
// same code (flash_tile.h):
//   scores^T [32 keys, 16 queries] = K [keys, d] x Q^T  (A: packed bf16 key rows;
//                                                         B: the queries' d-pairs)
//   context^T [16 e, 16 queries] += V^T [e, keys] x P^T (A: V transposed at packing;
//                                                         B: the probabilities' key-pairs)
// A group of 16 queries runs over all keys with its fp32 running contexts
// resident in tiles; they go through memory only to be scaled, when a query's
// max rose by more than a headroom (flash_tile.h's Bf16Exp), and at the end.
// The tile instructions run between the softmax's exponentials (AmxSteps).
// Q (scaled), K and V are rounded to bf16 to nearest even, the
// probabilities to nearest with ties away from zero (flash_tile.h); every sum
// is fp32. Q, K, V and the context come in fp32 or all in bf16 (a bf16 model's
// projections write and read them so): bf16 Q is scaled, then rounded again
// (exact for a power-of-two scale, as 1/sqrt(64)); the context is rounded to
// nearest even.
#include "backends/cpu/flash_attention.h"

#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593, as in flash_attention_avx512.cc
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/flash_tile.h"
#include "engine/cpu_isa.h"

#if defined(__clang__)
#define HEED_AMX                                                                                            \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16"), min_vector_width(512)))
#else
#define HEED_AMX \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16,prefer-vector-width=512")))
#endif

namespace heed::cpu {
namespace {

using namespace flash;

// Tile registers, all 16 rows of 64 bytes (16 fp32, or 32 bf16 as 16 pairs):
// t0..t3 a query group's contexts (16 e each), t4/t5 its scores of 16 keys
// each, t6 its Q^T (a d half) or probabilities, t7 16 key rows (a d half) or
// 16 rows of V^T (AmxSteps).
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
  TileConfig() {
    for (int i = 0; i < 8; ++i) bytes_per_row[i] = 64, rows[i] = 16;
  }
};

struct AmxTiles {
  alignas(64) uint32_t qt[kGroups][D / 2][16];  // per query lane the bf16 pair (d, d + 1), scaled
  alignas(64) uint32_t pt[2][kKeys / 2][kLanes];  // two key tiles': per query lane the probabilities of (2i, 2i + 1)
  alignas(64) float o[kGroups][D][16];            // the running contexts, [e][query lane]
  alignas(64) float out_rows[16][D];              // 16 queries' contexts as rows, written out a row at a time
  ScoreTile s[3];                                 // the scores of this key tile and the next two
  uint16_t* keys;    // the head's keys [lp][D] in bf16, zero rows after L
  uint16_t* values;  // its values transposed per key tile, [lp / 32][D][32] in bf16, zero after L
  int64_t lp;
};

// 32-bit lane i = (bf16(lo[i]), bf16(hi[i])): lo in the low half, as AMX pairs them.
HEED_AMX inline __m512i interleave_bf16(__m512 lo, __m512 hi) {
  const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo's 16 words, then hi's
  const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(pairs, halves);
}

// 16 floats from fp32 or bf16 (widened exactly), and written back either way.
HEED_AMX inline __m512 load16(const float* x) { return _mm512_loadu_ps(x); }
HEED_AMX inline __m512 load16(const uint16_t* x) {
  const __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));
}
HEED_AMX inline void store16(float* out, __m512 v) { _mm512_storeu_ps(out, v); }
HEED_AMX inline void store16(uint16_t* out, __m512 v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), (__m256i)_mm512_cvtneps_pbh(v));
}

// 32 bf16 (as 16 pairs) from 32 values, scaled.
template <typename In>
HEED_AMX inline __m512i bf16_row(const In* x, __m512 scale) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(load16(x + 16), scale), _mm512_mul_ps(load16(x), scale));
}

// Keys [0, L) of a [L, D] view (row stride `stride`) as bf16 rows [lp][D], zero rows after.
template <typename In>
HEED_AMX void pack_keys(const In* x, int64_t stride, int64_t L, uint16_t* out, int64_t lp) {
  const __m512 one = _mm512_set1_ps(1.f);
  for (int64_t j = 0; j < lp; ++j)
    for (int64_t e = 0; e < D; e += 32)
      _mm512_store_si512(out + j * D + e, j < L ? bf16_row(x + j * stride + e, one) : _mm512_setzero_si512());
}

// Values [0, L) transposed per key tile into [lp / 32][D][32] bf16 (a tile
// operand's 16 rows of e then lie 64 bytes apart: at the 2 lp bytes of a
// whole transpose, they shared an L1 set and the core ran 7-9% longer): per
// 32 keys and 16 e, 16 vectors of key pairs (lane e) transposed into 16 rows
// of e (lane: key pair).
template <typename In>
HEED_AMX inline __m512 value_row(const In* x, int64_t stride, int64_t L, int64_t j, int64_t e) {
  return j < L ? load16(x + j * stride + e) : _mm512_setzero_ps();
}
template <typename In>
HEED_AMX void pack_values(const In* x, int64_t stride, int64_t L, uint16_t* out, int64_t lp) {
  for (int64_t j0 = 0; j0 < lp; j0 += kKeys)
    for (int64_t e0 = 0; e0 < D; e0 += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = interleave_bf16(value_row(x, stride, L, j0 + 2 * i, e0), value_row(x, stride, L, j0 + 2 * i + 1, e0));
      transpose16(r);
      for (int e = 0; e < 16; ++e) _mm512_store_si512(out + j0 * D + (e0 + e) * kKeys, r[e]);
    }
}

// The tile's queries as Q^T d-pairs, scaled: per group, 16 query rows of pairs transposed.
template <typename In>
HEED_AMX void pack_queries(const FlashAttention& a, AmxTiles& t, const In* q, int rows) {
  const __m512 scale = _mm512_set1_ps(a.scale);
  for (int g = 0; g < kGroups; ++g)
    for (int half = 0; half < 2; ++half) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * g + i;
        r[i] = row < rows ? bf16_row(q + row * a.qv.strides[2] + 32 * half, scale) : _mm512_setzero_si512();
      }
      transpose16(r);
      for (int dp = 0; dp < 16; ++dp) _mm512_store_si512(t.qt[g][16 * half + dp], r[dp]);
    }
}

// Group g's contexts from tiles t0..t3 to t.o[g] ([e][query lane]).
HEED_AMX inline void store_contexts(AmxTiles& t, int g) {
  _tile_stored(0, t.o[g][0], 64);
  _tile_stored(1, t.o[g][16], 64);
  _tile_stored(2, t.o[g][32], 64);
  _tile_stored(3, t.o[g][48], 64);
}

// Group g's contexts (t0..t3) times rescale, through memory: rare, a query's
// max rising by more than Bf16Exp's headroom.
HEED_AMX inline void rescale_contexts(AmxTiles& t, int g, __m512 rescale) {
  store_contexts(t, g);
  for (int e = 0; e < D; ++e) _mm512_store_ps(t.o[g][e], _mm512_mul_ps(_mm512_load_ps(t.o[g][e]), rescale));
  _tile_loadd(0, t.o[g][0], 64);
  _tile_loadd(1, t.o[g][16], 64);
  _tile_loadd(2, t.o[g][32], 64);
  _tile_loadd(3, t.o[g][48], 64);
}

// out[r] = o[.][r] / sum[r] for the tile's rows: 16 x 16 blocks of o transposed
// into rows first, then each row written whole (the rows of a [B, T, E] context
// lie E apart: written a quarter at a time, the core ran 1.3x longer at length
// 128).
template <typename Out>
HEED_AMX void write_out(const FlashAttention& a, AmxTiles& t, Out* out, int rows, const __m512 run_sum[kGroups]) {
  for (int g = 0; g < kGroups && 16 * g < rows; ++g) {
    alignas(64) float inv[16];
    _mm512_store_ps(inv, inverse_sums(run_sum[g]));
    for (int e0 = 0; e0 < D; e0 += 16) {
      __m512i r[16];
      for (int e = 0; e < 16; ++e) r[e] = _mm512_load_si512(t.o[g][e0 + e]);
      transpose16(r);
      for (int i = 0; i < 16; ++i)
        _mm512_store_ps(t.out_rows[i] + e0, _mm512_mul_ps(_mm512_castsi512_ps(r[i]), _mm512_set1_ps(inv[i])));
    }
    for (int i = 0; i < 16 && 16 * g + i < rows; ++i)
      for (int e0 = 0; e0 < D; e0 += 16)
        store16(out + (16 * g + i) * a.ov.strides[2] + e0, _mm512_load_ps(t.out_rows[i] + e0));
  }
}

// The arguments' Q, K, V and O in fp32 (T float) or bf16 (uint16_t).
template <typename T>
struct Io {
  static const float* q(const FlashAttention& a) { return a.q; }
  static const float* k(const FlashAttention& a) { return a.k; }
  static const float* v(const FlashAttention& a) { return a.v; }
  static float* o(const FlashAttention& a) { return a.o; }
};
template <>
struct Io<uint16_t> {
  static const uint16_t* q(const FlashAttention& a) { return a.qh; }
  static const uint16_t* k(const FlashAttention& a) { return a.kh; }
  static const uint16_t* v(const FlashAttention& a) { return a.vh; }
  static uint16_t* o(const FlashAttention& a) { return a.oh; }
};

// The tile instructions of group g's key tiles, in kSteps steps that run
// between a key tile's exponentials (flash_tile.h's online_softmax), so that
// the tile unit works while the vector units do (issued all at once before
// the softmax, the two ran one after the other: 1.3-1.4x as long at lengths
// >= 1024):
// - steps 0-2 and 7: the scores of keys [ahead, ahead + 32) (the key tile two
//   ahead; none if negative) into s, key-major in the group's lanes: t4/t5
//   (keys ahead.., ahead + 16..) summed over the two d halves, t6 the
//   queries' d-pairs, t7 16 key rows;
// - steps 3-6: contexts^T [16 e, 16 queries] += V^T [e, keys behind..] x P^T
//   for the four e blocks, with the previous key tile's probabilities
//   (pt[buffer]; none if `behind` is negative): t6 the probabilities' key
//   pairs, t7 16 rows of V^T.
// The softmax reads the scores two key tiles after they are made, the tile
// unit the probabilities one after: neither waits for the unit that wrote them.
struct AmxSteps {
  AmxTiles& t;
  int g;
  int64_t ahead;
  ScoreTile& s;
  int64_t behind;
  int buffer;
  HEED_AMX void operator()(int k) const {
    if (ahead >= 0) score_step(k, t.keys + ahead * D);
    if (behind >= 0) context_step(k, t.values + behind * D);
  }
  HEED_AMX void all() const {
    for (int k = 0; k < kSteps; ++k) (*this)(k);
  }
  HEED_AMX void score_step(int k, const uint16_t* key) const {
    switch (k) {
      case 0:
        _tile_zero(4);
        _tile_zero(5);
        _tile_loadd(6, t.qt[g][0], 64);
        _tile_loadd(7, key, D * 2);
        _tile_dpbf16ps(4, 7, 6);
        break;
      case 1:
        _tile_loadd(7, key + 16 * D, D * 2);
        _tile_dpbf16ps(5, 7, 6);
        _tile_loadd(6, t.qt[g][16], 64);
        break;
      case 2:
        _tile_loadd(7, key + 32, D * 2);
        _tile_dpbf16ps(4, 7, 6);
        _tile_loadd(7, key + 16 * D + 32, D * 2);
        _tile_dpbf16ps(5, 7, 6);
        break;
      case 7:
        _tile_stored(4, s.p[0] + 16 * g, kLanes * 4);
        _tile_stored(5, s.p[16] + 16 * g, kLanes * 4);
        break;
    }
  }
  HEED_AMX void context_step(int k, const uint16_t* value) const {  // value: V^T's block of this key tile
    switch (k) {
      case 3:
        _tile_loadd(6, t.pt[buffer][0] + 16 * g, kLanes * 4);
        _tile_loadd(7, value, kKeys * 2);
        _tile_dpbf16ps(0, 7, 6);
        break;
      case 4:
        _tile_loadd(7, value + 16 * kKeys, kKeys * 2);
        _tile_dpbf16ps(1, 7, 6);
        break;
      case 5:
        _tile_loadd(7, value + 32 * kKeys, kKeys * 2);
        _tile_dpbf16ps(2, 7, 6);
        break;
      case 6:
        _tile_loadd(7, value + 48 * kKeys, kKeys * 2);
        _tile_dpbf16ps(3, 7, 6);
        break;
    }
  }
};

// Group g of the tile's queries against keys [0, keys); its contexts end in
// t.o[g]. One group of 16 queries at a time, its contexts resident in tiles
// t0..t3 (16 e each) across all key tiles: no tile store or load of them per
// key tile; t4..t7 serve the steps (AmxSteps).
HEED_AMX void query_group(const FlashAttention& a, AmxTiles& t, int g, int64_t b, int64_t h, int64_t t0, int rows,
                          int64_t keys, __m512& run_sum) {
  const bool any_mask = masked(a);
  __m512 run_max = _mm512_set1_ps(-INFINITY);
  run_sum = _mm512_setzero_ps();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t tiles = (keys + kKeys - 1) / kKeys;
  for (int64_t i = 0; i < std::min<int64_t>(tiles, 2); ++i) AmxSteps{t, g, i * kKeys, t.s[i], -1, 0}.all();
  for (int64_t i = 0; i < tiles; ++i) {
    const int64_t j0 = i * kKeys;
    const int cols = int(std::min<int64_t>(kKeys, keys - j0));
    ScoreTile& s = t.s[i % 3];
    if (any_mask) add_masks(a, s, b, h, t0, rows, j0, cols, g, g + 1);
    const AmxSteps steps{t, g, i + 2 < tiles ? j0 + 2 * kKeys : -1, t.s[(i + 2) % 3], i > 0 ? j0 - kKeys : -1,
                         int((i + 1) & 1)};
    const __m512 rescale =
        online_softmax<Bf16Exp>(s, g, cols, run_max, run_sum, PairedProbabilities{t.pt[i & 1], g}, steps);
    if (_mm512_cmp_ps_mask(rescale, _mm512_set1_ps(1.f), _CMP_NEQ_UQ)) rescale_contexts(t, g, rescale);
  }
  if (tiles > 0) AmxSteps{t, g, -1, t.s[0], (tiles - 1) * kKeys, int((tiles - 1) & 1)}.all();
  store_contexts(t, g);
}

// Queries [t0, t0 + rows) of head (b, h) against its keys.
template <typename T>
HEED_AMX void query_tile(const FlashAttention& a, AmxTiles& t, int64_t b, int64_t h, int64_t t0, int rows) {
  pack_queries(a, t, Io<T>::q(a) + b * a.qv.strides[0] + h * a.qv.strides[1] + t0 * a.qv.strides[2], rows);
  __m512 run_sum[kGroups];
  for (int g = 0; g < kGroups && 16 * g < rows; ++g) {
    const int64_t keys = visible_keys(a, t0, std::min(rows, 16 * g + 16));  // causal: none after its last query's
    query_group(a, t, g, b, h, t0, rows, keys, run_sum[g]);
  }
  write_out(a, t, Io<T>::o(a) + b * a.ov.strides[0] + h * a.ov.strides[1] + t0 * a.ov.strides[2], rows, run_sum);
}

template <typename T>
HEED_AMX void pack_head(const FlashAttention& a, AmxTiles& t, int64_t b, int64_t h) {
  pack_keys(Io<T>::k(a) + b * a.kv.strides[0] + h * a.kv.strides[1], a.kv.strides[2], a.L, t.keys, t.lp);
  pack_values(Io<T>::v(a) + b * a.vv.strides[0] + h * a.vv.strides[1], a.vv.strides[2], a.L, t.values, t.lp);
}

HEED_AMX void load_tile_config() {
  static const TileConfig config;
  _tile_loadconfig(&config);
}
HEED_AMX void release_tiles() { _tile_release(); }

// Linux hands out AMX's tile data state only to a process that asks for it.
bool amx_permitted() {
  constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
}

}  // namespace

bool flash_amx_usable() {
  // oneDNN's view of the CPU (its effective ISA honours HEED_CPU_ISA=avx2 and
  // ONEDNN_MAX_CPU_ISA, so either also turns this kernel off), then the kernel's.
  static const bool usable = cpu_isa() == CpuIsa::avx512 &&
                             dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_amx &&
                             __builtin_cpu_supports("avx512bf16") && amx_permitted();
  return usable;
}

size_t flash_amx_thread_floats(int64_t L) {  // a multiple of 16: each thread's share starts 64-byte aligned
  const size_t bf16_elements = size_t(2 * D * padded(L));  // keys and values
  const size_t floats = bf16_elements / 2 + (sizeof(AmxTiles) + sizeof(float) - 1) / sizeof(float);
  return (floats + 15) / 16 * 16;
}

void flash_attention_amx(const FlashAttention& a, float* workspace, int threads) {
  const Tasks tasks(a, threads);
  const int64_t lp = padded(a.L);
  const size_t stride = flash_amx_thread_floats(a.L);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* mine = workspace + size_t(omp_get_thread_num()) * stride;
    AmxTiles& t = *reinterpret_cast<AmxTiles*>(mine + D * lp);
    t.keys = reinterpret_cast<uint16_t*>(mine), t.values = t.keys + D * lp, t.lp = lp;
    load_tile_config();
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks.count(); ++task) {
      int64_t b, h, first, last;
      tasks.of(a, task, b, h, first, last);
      if (a.qh) run_task<pack_head<uint16_t>, query_tile<uint16_t>>(a, t, b, h, first, last);
      else run_task<pack_head<float>, query_tile<float>>(a, t, b, h, first, last);
    }
    release_tiles();
  }
}

}  // namespace heed::cpu
