// PanelGemm's AVX-512 build: 32-column panels, 12 x 32 tiles (24 accumulators)
// over the whole depth. A panel's first tile streams it from memory; the rows
// after it find it in L2. That first tile also prefetches the weights 32 KiB
// ahead (the next panel's), which the hardware prefetcher alone does not do
// early enough: 4.2-4.8 ms instead of 5.7-6.0 for the 32-row vocabulary
// projection (docs/benchmarks.md). Bias, activation and the partial last panel are handled
// as each tile is stored, while it is in L1.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>

#include "backends/cpu/panel_gemm.h"

namespace heed::cpu {
namespace {

constexpr int64_t P = 32, kRows = 12;
constexpr int64_t kPrefetchAhead = (32 << 10) / int64_t(sizeof(float));

struct TileOut {
  float* y;  // the tile's first output
  int64_t ldy, cols;
  const float* bias;  // at the tile's first column, or null
  Activation act;
};

HEED_AVX512 inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// A stored tile's rows = act(rows); apart from the tiles, so that each tile
// size does not carry a copy of every activation.
HEED_AVX512 __attribute__((noinline)) void activate_tile(const TileOut& o, int rows) {
  for (int i = 0; i < rows; ++i) apply_activation(o.act, o.y + i * o.ldy, o.cols);
}

// R rows of x (packed, kRows a k step) times a panel, stored as act(. + bias).
template <int R>
HEED_AVX512 void tile(const float* xp, const float* panel, int64_t k, bool prefetch, const TileOut& o) {
  __m512 c[R][2];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* w = panel + kk * P;
    if (prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchAhead + 16), _MM_HINT_T0);
    }
    const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      const __m512 xi = _mm512_set1_ps(xp[kk * kRows + i]);
      c[i][0] = _mm512_fmadd_ps(xi, w0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(xi, w1, c[i][1]);
    }
  }
  const __mmask16 m0 = lanes(o.cols), m1 = lanes(o.cols - 16);
  const __m512 b0 = o.bias ? _mm512_maskz_loadu_ps(m0, o.bias) : _mm512_setzero_ps();
  const __m512 b1 = o.bias ? _mm512_maskz_loadu_ps(m1, o.bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    float* row = o.y + i * o.ldy;
    _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(c[i][0], b0));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(c[i][1], b1));
  }
  if (o.act != Activation::none) activate_tile(o, R);
}

void tile_rows(int rows, const float* xp, const float* panel, int64_t k, bool prefetch, const TileOut& o) {
  switch (rows) {
    case 12: return tile<12>(xp, panel, k, prefetch, o);
    case 11: return tile<11>(xp, panel, k, prefetch, o);
    case 10: return tile<10>(xp, panel, k, prefetch, o);
    case 9: return tile<9>(xp, panel, k, prefetch, o);
    case 8: return tile<8>(xp, panel, k, prefetch, o);
    case 7: return tile<7>(xp, panel, k, prefetch, o);
    case 6: return tile<6>(xp, panel, k, prefetch, o);
    case 5: return tile<5>(xp, panel, k, prefetch, o);
    case 4: return tile<4>(xp, panel, k, prefetch, o);
    case 3: return tile<3>(xp, panel, k, prefetch, o);
    case 2: return tile<2>(xp, panel, k, prefetch, o);
    default: return tile<1>(xp, panel, k, prefetch, o);
  }
}

// Rows of x a chunk holds: its packed rows stay in L2 while every panel streams
// past them (at decoding sizes, all of x is one chunk).
int64_t chunk_blocks(int64_t k) { return std::max<int64_t>(1, (512 << 10) / (k * kRows * int64_t(sizeof(float)))); }

// One chunk of row blocks [b0, b1) against every panel. Work items are panels,
// or (panel, group of row blocks) when there are too few panels to keep every
// thread busy (a narrow weight at encoder sizes). Called inside a parallel region.
void chunk_times_panels(const PanelGemm::Call& c, const float* xp, int64_t b0, int64_t b1) {
  const int64_t panels = (c.n + P - 1) / P, blocks = b1 - b0, k = c.k;
  const int64_t want = 4 * int64_t(omp_get_num_threads());
  const int64_t per_group = panels >= want ? blocks : std::max<int64_t>(1, blocks * panels / want);
  const int64_t groups = (blocks + per_group - 1) / per_group;
#pragma omp for schedule(static)
  for (int64_t item = 0; item < panels * groups; ++item) {
    const int64_t p = item / groups, first = b0 + item % groups * per_group, last = std::min(b1, first + per_group);
    const float* panel = c.packed + p * k * P;
    for (int64_t b = first; b < last; ++b) {
      const TileOut o{c.y + b * kRows * c.n + p * P, c.n, std::min(P, c.n - p * P), c.bias ? c.bias + p * P : nullptr,
                      c.act};
      tile_rows(int(std::min(kRows, c.m - b * kRows)), xp + (b - b0) * k * kRows, panel, k, b == first, o);
    }
  }
}

}  // namespace

size_t panel_scratch_avx512(int64_t m, int64_t k) {
  return size_t(std::min(chunk_blocks(k), (m + kRows - 1) / kRows) * kRows * k);
}

void panel_gemm_avx512(const PanelGemm::Call& c) {
  const int64_t blocks = (c.m + kRows - 1) / kRows, k = c.k, chunk = chunk_blocks(k);
  float* xp = c.scratch;  // a chunk of x by blocks of kRows rows, k-major inside a block
#pragma omp parallel
  for (int64_t b0 = 0; b0 < blocks; b0 += chunk) {
    const int64_t b1 = std::min(blocks, b0 + chunk);
#pragma omp for schedule(static)
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t i = 0; i < kRows; ++i) {
          const int64_t row = b * kRows + i;
          xp[((b - b0) * k + kk) * kRows + i] = row < c.m ? c.x[row * k + kk] : 0.f;
        }
    chunk_times_panels(c, xp, b0, b1);
  }
}

}  // namespace heed::cpu
