// The machine's FP32 FMA peak: 12 independent AVX2 FMA chains per thread, in
// registers only (no memory traffic), best of 5 runs. What "close to the
// hardware" means for compute-bound kernels (docs/benchmarks.md).
//
//   heed_bench_fma_peak        (threads: OMP_NUM_THREADS, default all cores)
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>

int main() {
  constexpr long kIters = 100000000;
  constexpr int kChains = 12;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    {
      __m256 acc[kChains];
      for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1.0f + float(i) * 1e-7f);
      const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(1e-8f);
      for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 12
        for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
      }
      float lanes[8];
      for (int i = 0; i < kChains; ++i) {
        _mm256_storeu_ps(lanes, acc[i]);
        sink += lanes[0];
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gflops = double(omp_get_max_threads()) * kIters * kChains * 8 * 2 / s / 1e9;
    if (gflops > best) best = gflops;
    if (sink == 0.f) std::printf(" ");  // keeps the chains alive
  }
  std::printf("FP32 FMA peak: %.1f GFLOP/s with %d threads\n", best, omp_get_max_threads());
}
