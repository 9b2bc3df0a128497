// Memory read bandwidth for working sets of given sizes: the limit of a
// decode step that streams its weights (and KV caches) once a step. Each size
// is read whole, over and over, by all threads (each its own contiguous share,
// first touched by that thread), best of 5 passes of >= 0.2 s; sizes that fit
// the caches measure them, not DRAM (this decade's servers have L3s of
// 100+ MB). bench/translate.py --limits reads the lines.
//
//   heed_bench_bandwidth [MIB...]   (default 16 64 256 1024; threads: OMP_NUM_THREADS)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace {

// The sum of n floats (n a multiple of 32), read as two streams (its halves,
// side by side): one core's loads reach 10-15% more of the memory's bandwidth
// so than from one stream (Intel Xeon, 1 thread: 17.0 against 15.4 GB/s), as
// a GEMV reading several weight panels does.
float sum_of(const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  const float* y = x + n / 2;
  for (int64_t i = 0; i < n / 2; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(x + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(y + i));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(y + i + 8));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  float total = 0.f;
  for (float v : lanes) total += v;
  return total;
}

double read_gbps(int64_t mib) {
  const int threads = omp_get_max_threads();
  const int64_t n = mib * (int64_t(1) << 20) / int64_t(sizeof(float)) / (32 * threads) * (32 * threads);  // halves of 16-float multiples
  const int64_t share = n / threads;
  std::unique_ptr<float, decltype(&std::free)> buf(static_cast<float*>(std::aligned_alloc(64, size_t(n) * 4)), &std::free);
  float* x = buf.get();
#pragma omp parallel
  {
    float* mine = x + share * omp_get_thread_num();
    for (int64_t i = 0; i < share; ++i) mine[i] = 1e-9f * float(i % 1000);
  }
  double best = 0.0;
  float sink = 0.f;
  for (int rep = 0; rep < 5; ++rep) {
    int passes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double s = 0.0;
    do {
#pragma omp parallel reduction(+ : sink)
      sink += sum_of(x + share * omp_get_thread_num(), share);
      ++passes;
      s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (s < 0.2);
    best = std::max(best, double(passes) * double(n) * 4.0 / s / 1e9);
  }
  if (sink == 12345.f) std::printf(" ");  // keeps the sums alive
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {16, 64, 256, 1024};
  for (int64_t mib : sizes) {
    if (mib <= 0) {
      std::fprintf(stderr, "usage: %s [MIB...] (sizes > 0)\n", argv[0]);
      return 2;
    }
    std::printf("read bandwidth: %lld MiB: %.1f GB/s with %d threads\n", static_cast<long long>(mib), read_gbps(mib),
                omp_get_max_threads());
  }
}
