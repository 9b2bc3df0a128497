// Generation's per-step scoring on the host (Backend::best_candidates' default):
// a row's log-softmax with the logits processors, and its best candidates, in
// three vectorized passes over the logits (no vocabulary-sized sort or buffer):
// the row's max and each block's, the sum of exponentials, then only the blocks
// whose largest logit can still enter the list. An AVX-512 and an AVX2 build,
// chosen at run time (engine/cpu_isa.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/backend.h"
#include "engine/candidates.h"
#include "engine/cpu_isa.h"
#include "engine/fast_math.h"

namespace heed {
namespace {

constexpr int64_t kBlock = 64;

void insert(const Candidate& c, Candidate* best, int64_t keep) {
  if (!Candidate::better(c, best[keep - 1])) return;
  int64_t at = keep - 1;
  for (; at > 0 && Candidate::better(c, best[at - 1]); --at) best[at] = best[at - 1];
  best[at] = c;
}

// The `keep` best of log_softmax(row) + base, best first. A score is
// (logit - lse) + base, as transformers adds it, which never decreases as the
// logit grows: a block of logits whose largest cannot enter the list is skipped
// unconverted, the rest are converted one by one. `block_max` has a float for
// every kBlock logits.
HEED_INLINE void best_of_row(const float* row, const CandidateQuery& q, float base, Candidate* best,
                             float* block_max) {
  const int64_t vocab = q.vocab, keep = q.keep, blocks = (vocab + kBlock - 1) / kBlock;
  std::fill(best, best + keep, Candidate{-INFINITY, std::numeric_limits<int64_t>::max()});
  if (q.forced >= 0) {  // only the forced token is possible; the others follow at -inf in index order
    best[0] = {base, q.forced};
    for (int64_t v = 0, j = 1; j < keep && v < vocab; ++v)
      if (v != q.forced) best[j++] = {-INFINITY, v};
    return;
  }
  float max = -INFINITY;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const float* p = row + blk * kBlock;
    const float m = max_of(p, std::min(kBlock, vocab - blk * kBlock));
    block_max[blk] = m;
    max = std::max(max, m);
  }
  float sum = 0.f;
  if (!q.log_probs) {
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(row[v] - max);
  }
  const float lse = q.log_probs ? 0.f : std::log(sum) + max;  // log_softmax's
  for (int64_t blk = 0; blk < blocks; ++blk) {
    if ((block_max[blk] - lse) + base < best[keep - 1].score) continue;
    for (int64_t v = blk * kBlock; v < std::min((blk + 1) * kBlock, vocab); ++v)
      insert({v == q.hold ? -INFINITY : (row[v] - lse) + base, v}, best, keep);
  }
}

HEED_AVX512 void best_of_row_avx512(const float* row, const CandidateQuery& q, float base, Candidate* best,
                                    float* block_max) {
  best_of_row(row, q, base, best, block_max);
}
void best_of_row_avx2(const float* row, const CandidateQuery& q, float base, Candidate* best, float* block_max) {
  best_of_row(row, q, base, best, block_max);
}

}  // namespace

void Backend::best_candidates(const CandidateQuery& q, float* scores, int64_t* indices) const {
  std::vector<Candidate> best(size_t(q.rows * q.keep));
  const bool avx512 = cpu_isa() == CpuIsa::avx512;
#pragma omp parallel if (q.rows > 1)
  {
    std::vector<float> block_max(size_t((q.vocab + kBlock - 1) / kBlock));
#pragma omp for
    for (int64_t r = 0; r < q.rows; ++r) {
      if (q.skip && q.skip[r]) continue;
      const float* row = q.logits + r * q.vocab;
      const float base = q.base ? q.base[r] : 0.f;
      if (avx512) best_of_row_avx512(row, q, base, best.data() + r * q.keep, block_max.data());
      else best_of_row_avx2(row, q, base, best.data() + r * q.keep, block_max.data());
    }
  }
  for (int64_t i = 0; i < q.rows * q.keep; ++i) {
    scores[i] = best[size_t(i)].score;
    indices[i] = best[size_t(i)].index;
  }
}

}  // namespace heed
