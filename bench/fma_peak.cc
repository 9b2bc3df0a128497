// The machine's FP32 FMA peak: 12 independent FMA chains per thread, in
// registers only (no memory traffic), best of 5 runs; with 256-bit (AVX2)
// vectors, and with 512-bit ones where the CPU has AVX-512 (on Zen 5 these run
// at twice the rate; on Zen 4 at the same). What "close to the hardware" means
// for compute-bound kernels (docs/benchmarks.md). Where the CPU has AMX-BF16,
// also the tile unit's bf16 peak (four independent 16 x 16 x 32 tile
// multiply-adds in flight), the limit of the bf16 attention core's products,
// and its int8 peak (16 x 16 x 64 s8 products a multiply-add), the limit of
// int8 GEMMs (bench/translate.py --limits reads both). Then what bounds that
// core on such a CPU: a tile multiply-add fed a 1 KB operand tile from L1 or
// L2, and whether tile multiply-adds run alongside 512-bit FMAs or adds.
//
//   heed_bench_fma_peak        (threads: OMP_NUM_THREADS, default all cores)
#include <immintrin.h>
#include <omp.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

namespace {

constexpr long kIters = 100000000;
constexpr int kChains = 12;

struct Avx2 {
  using Vec = __m256;
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static float lane0(Vec a) { return _mm256_cvtss_f32(a); }
};
struct Avx512 {
  using Vec = __m512;
  __attribute__((target("avx512f"))) static Vec set1(float v) { return _mm512_set1_ps(v); }
  __attribute__((target("avx512f"))) static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  __attribute__((target("avx512f"))) static float lane0(Vec a) { return _mm512_cvtss_f32(a); }
};

// One thread's chains; returns a lane so that they stay alive.
template <typename Isa>
__attribute__((always_inline)) inline float chains() {
  typename Isa::Vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = Isa::set1(1.0f + float(i) * 1e-7f);
  const typename Isa::Vec x = Isa::set1(0.9999999f), y = Isa::set1(1e-8f);
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = Isa::fma(acc[i], x, y);
  }
  float sink = 0;
  for (int i = 0; i < kChains; ++i) sink += Isa::lane0(acc[i]);
  return sink;
}

float chains_avx2() { return chains<Avx2>(); }
__attribute__((target("avx512f"))) float chains_avx512() { return chains<Avx512>(); }

double peak_gflops(int lanes, float (*run)()) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    sink += run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gflops = double(omp_get_max_threads()) * kIters * kChains * lanes * 2 / s / 1e9;
    if (gflops > best) best = gflops;
    if (sink == 0.f) std::printf(" ");  // keeps the chains alive
  }
  return best;
}

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,amx-int8")))

// 8 tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
  TileConfig() {
    for (int i = 0; i < 8; ++i) bytes_per_row[i] = 64, rows[i] = 16;
  }
};

// This thread's tiles configured: operands t4, t5 and accumulators t0..t3 all
// zeros. The configuration static: a local's stores before ldtilecfg were
// dropped by GCC 12 as dead (only the palette byte reached memory).
AMX_TARGET void start_tiles() {
  static const TileConfig config;
  _tile_loadconfig(&config);
  alignas(64) static const uint16_t zeros[16 * 32] = {};
  _tile_loadd(4, zeros, 64);
  _tile_loadd(5, zeros, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// One thread's tile multiply-adds per second, in GFLOP/s (bf16: 2 x 16 x 16 x 32
// each; int8: GOP/s, 2 x 16 x 16 x 64 each).
template <bool kInt8>
AMX_TARGET double amx_thread_gflops() {
  constexpr long kTileIters = 20000000;
  start_tiles();
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kTileIters; ++i) {
    if constexpr (kInt8) {
      _tile_dpbssd(0, 4, 5);
      _tile_dpbssd(1, 4, 5);
      _tile_dpbssd(2, 4, 5);
      _tile_dpbssd(3, 4, 5);
    } else {
      _tile_dpbf16ps(0, 4, 5);
      _tile_dpbf16ps(1, 4, 5);
      _tile_dpbf16ps(2, 4, 5);
      _tile_dpbf16ps(3, 4, 5);
    }
  }
  alignas(64) float sink[256];
  _tile_stored(0, sink, 64);  // waits for the last multiply-adds
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  _tile_release();
  return kTileIters * 4.0 * 16 * 16 * (kInt8 ? 64 : 32) * 2 / s / 1e9;
}

template <bool kInt8>
double amx_peak_gflops() {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    total += amx_thread_gflops<kInt8>();
    if (total > best) best = total;
  }
  return best;
}

// Whether the tile unit's multiply-adds run alongside 512-bit vector work, as
// the bf16 attention core needs (its softmax on the vector units between its
// tile multiplies): one thread's time for kSteps steps of one tile
// multiply-add and 24 vector instructions (12 independent chains, twice), of
// the multiply-adds alone and of the vector instructions alone; the vector
// instruction an FMA or an add.
template <bool kTiles, bool kVectors, bool kAdd>
__attribute__((target("avx512f,amx-tile,amx-bf16"))) double mixed_ms() {
  constexpr long kSteps = 2000000;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + float(i) * 1e-7f);
  // y large enough that the adds change acc (1 + 1e-8 == 1: the compiler dropped them)
  const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(kAdd ? 1e-3f : 1e-8f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < kSteps; ++it) {
    if (kTiles) {
      if (it & 1) _tile_dpbf16ps(0, 4, 5);
      else _tile_dpbf16ps(1, 4, 5);
    }
    if (kVectors)
#pragma GCC unroll 24
      for (int i = 0; i < 2 * kChains; ++i)
        acc[i % kChains] = kAdd ? _mm512_add_ps(acc[i % kChains], y) : _mm512_fmadd_ps(acc[i % kChains], x, y);
  }
  alignas(64) float sink[256];
  _tile_stored(0, sink, 64);
  _tile_stored(1, sink, 64);
  const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
  float lanes = sink[0];
  for (int i = 0; i < kChains; ++i) lanes += _mm512_cvtss_f32(acc[i]);
  if (lanes == 0.f) std::printf(" ");  // keeps the chains alive
  return ms;
}

template <bool kTiles, bool kVectors, bool kAdd>
AMX_TARGET double best_mixed_ms() {
  start_tiles();
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) best = std::min(best, mixed_ms<kTiles, kVectors, kAdd>());
  _tile_release();
  return best;
}

template <bool kAdd>
void print_mixed(const char* name) {
  const double tiles = best_mixed_ms<true, false, kAdd>(), vectors = best_mixed_ms<false, true, kAdd>(),
               both = best_mixed_ms<true, true, kAdd>();
  std::printf("AMX with 512-bit %s (1 thread): tile multiply-adds alone %.1f ms, the %ss alone %.1f ms, "
              "interleaved %.1f ms (%.2fx their sum)\n",
              name, tiles, name, vectors, both, both / (tiles + vectors));
}

// ns per tile multiply-add when each loads its own 1 KB operand tile (as the
// bf16 attention core's keys and values: each key tile serves one group of 16
// queries) from a buffer of `bytes`: L1-resident (16 KB) or L2-resident (1 MB).
AMX_TARGET double loaded_multiply_ns(size_t bytes) {
  constexpr long kMultiplies = 4000000;
  start_tiles();
  std::vector<uint16_t> storage(bytes / 2 + 32, 0);
  // 64-byte aligned: tile rows across two cache lines took 3.3x as long
  uint16_t* buffer = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) / 2;
  const long tiles = long(bytes / 1024);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0, tile = 0; i < kMultiplies; i += 4, tile = tile + 4 == tiles ? 0 : tile + 4) {
      _tile_loadd(7, buffer + tile * 512, 64);
      _tile_dpbf16ps(0, 7, 5);
      _tile_loadd(7, buffer + (tile + 1) * 512, 64);
      _tile_dpbf16ps(1, 7, 5);
      _tile_loadd(7, buffer + (tile + 2) * 512, 64);
      _tile_dpbf16ps(2, 7, 5);
      _tile_loadd(7, buffer + (tile + 3) * 512, 64);
      _tile_dpbf16ps(3, 7, 5);
    }
    alignas(64) float sink[256];
    _tile_stored(0, sink, 64);  // waits for the last multiply-adds
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  _tile_release();
  return best / kMultiplies * 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {  // no options: threads come from OMP_NUM_THREADS
    std::fprintf(stderr, "usage: [OMP_NUM_THREADS=N] %s\n", argv[0]);
    return std::string_view(argv[1]) == "--help" ? 0 : 2;
  }
  std::printf("FP32 FMA peak: %.1f GFLOP/s with %d threads (AVX2, 256-bit)\n", peak_gflops(8, chains_avx2),
              omp_get_max_threads());
  if (__builtin_cpu_supports("avx512f"))
    std::printf("FP32 FMA peak: %.1f GFLOP/s with %d threads (AVX-512, 512-bit)\n", peak_gflops(16, chains_avx512),
                omp_get_max_threads());
  constexpr long kRequestPermission = 0x1023, kTileData = 18;  // Linux: ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
  if (__builtin_cpu_supports("amx-bf16") && syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0) {
    std::printf("AMX BF16 peak: %.1f GFLOP/s with %d threads (tile multiply-adds)\n", amx_peak_gflops<false>(),
                omp_get_max_threads());
    if (__builtin_cpu_supports("amx-int8"))
      std::printf("AMX INT8 peak: %.1f GOP/s with %d threads (tile multiply-adds)\n", amx_peak_gflops<true>(),
                  omp_get_max_threads());
    const double l1 = loaded_multiply_ns(16 << 10), l2 = loaded_multiply_ns(1 << 20),
                 none = 16.0 * 16 * 32 * 2 / amx_thread_gflops<false>();
    std::printf("AMX BF16 with a 1 KB operand tile loaded per multiply-add (1 thread): %.2f ns each from L1, "
                "%.2f ns from L2 (no load: %.2f ns)\n",
                l1, l2, none);
    print_mixed<false>("FMA");
    print_mixed<true>("add");
  }
}
