// Generation's per-step scoring on the host (Backend::best_candidates' default):
// a row's log-softmax with the logits processors, and its best candidates in one
// vectorized pass (no vocabulary-sized sort).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>

#include "engine/backend.h"
#include "engine/candidates.h"
#include "engine/fast_math.h"

namespace heed {
namespace {

// log_softmax(row) + base, added as transformers does: (logit - lse) + base.
void processed_log_probs(const float* row, const CandidateQuery& q, float base, float* lp) {
  const int64_t vocab = q.vocab;
  float max = -INFINITY;
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, row[v]);
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(row[v] - max);
  const float log_sum = std::log(sum) + max;
#pragma omp simd
  for (int64_t v = 0; v < vocab; ++v) lp[v] = (row[v] - log_sum) + base;
  if (q.hold >= 0) lp[q.hold] = -INFINITY;
  if (q.forced >= 0)
    for (int64_t v = 0; v < vocab; ++v) lp[v] = v == q.forced ? base : -INFINITY;
}

// The `keep` best of row[0, vocab), best first.
void best_of_row(const float* row, int64_t vocab, Candidate* best, int64_t keep) {
  std::fill(best, best + keep, Candidate{-INFINITY, std::numeric_limits<int64_t>::max()});
  constexpr int64_t kBlock = 64;  // blocks whose maximum cannot enter the list are skipped (vectorized)
  for (int64_t start = 0; start < vocab; start += kBlock) {
    const int64_t end = std::min(start + kBlock, vocab);
    float block_max = -INFINITY;
#pragma omp simd reduction(max : block_max)
    for (int64_t v = start; v < end; ++v) block_max = std::max(block_max, row[v]);
    if (block_max < best[keep - 1].score) continue;
    for (int64_t v = start; v < end; ++v) {
      Candidate c{row[v], v};
      if (!Candidate::better(c, best[keep - 1])) continue;
      int64_t at = keep - 1;
      for (; at > 0 && Candidate::better(c, best[at - 1]); --at) best[at] = best[at - 1];
      best[at] = c;
    }
  }
}

}  // namespace

void Backend::best_candidates(const CandidateQuery& q, float* scores, int64_t* indices) const {
  std::vector<std::vector<float>> lp(size_t(omp_get_max_threads()), std::vector<float>(size_t(q.vocab)));
  std::vector<Candidate> best(size_t(q.rows * q.keep));
#pragma omp parallel for if (q.rows > 1)
  for (int64_t r = 0; r < q.rows; ++r) {
    if (q.skip && q.skip[r]) continue;
    float* row = lp[size_t(omp_get_thread_num())].data();
    processed_log_probs(q.logits + r * q.vocab, q, q.base ? q.base[r] : 0.f, row);
    best_of_row(row, q.vocab, best.data() + r * q.keep, q.keep);
  }
  for (int64_t i = 0; i < q.rows * q.keep; ++i) {
    scores[i] = best[size_t(i)].score;
    indices[i] = best[size_t(i)].index;
  }
}

}  // namespace heed
