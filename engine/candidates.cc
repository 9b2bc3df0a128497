// Generation's per-step scoring on the host (Backend::best_candidates' default):
// a row's log-softmax with the logits processors, and its best candidates in one
// vectorized pass over the logits (no vocabulary-sized sort or buffer).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/backend.h"
#include "engine/candidates.h"
#include "engine/fast_math.h"

namespace heed {
namespace {

// The row's log-sum-exp, as log_softmax needs it.
float log_sum_exp(const float* row, int64_t vocab) {
  float max = -INFINITY;
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, row[v]);
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(row[v] - max);
  return std::log(sum) + max;
}

void insert(const Candidate& c, Candidate* best, int64_t keep) {
  if (!Candidate::better(c, best[keep - 1])) return;
  int64_t at = keep - 1;
  for (; at > 0 && Candidate::better(c, best[at - 1]); --at) best[at] = best[at - 1];
  best[at] = c;
}

// The `keep` best of log_softmax(row) + base, best first. A score is
// (logit - lse) + base, as transformers adds it, which never decreases as the
// logit grows: a block of logits whose largest cannot enter the list is skipped
// unconverted (vectorized), the rest are converted one by one. No
// vocabulary-sized buffer is written.
void best_of_row(const float* row, const CandidateQuery& q, float base, Candidate* best) {
  const int64_t vocab = q.vocab, keep = q.keep;
  std::fill(best, best + keep, Candidate{-INFINITY, std::numeric_limits<int64_t>::max()});
  if (q.forced >= 0) {  // only the forced token is possible; the others follow at -inf in index order
    best[0] = {base, q.forced};
    for (int64_t v = 0, j = 1; j < keep && v < vocab; ++v)
      if (v != q.forced) best[j++] = {-INFINITY, v};
    return;
  }
  const float lse = log_sum_exp(row, vocab);
  constexpr int64_t kBlock = 64;
  for (int64_t start = 0; start < vocab; start += kBlock) {
    const int64_t end = std::min(start + kBlock, vocab);
    float block_max = -INFINITY;
#pragma omp simd reduction(max : block_max)
    for (int64_t v = start; v < end; ++v) block_max = std::max(block_max, row[v]);
    if ((block_max - lse) + base < best[keep - 1].score) continue;
    for (int64_t v = start; v < end; ++v) insert({v == q.hold ? -INFINITY : (row[v] - lse) + base, v}, best, keep);
  }
}

}  // namespace

void Backend::best_candidates(const CandidateQuery& q, float* scores, int64_t* indices) const {
  std::vector<Candidate> best(size_t(q.rows * q.keep));
#pragma omp parallel for if (q.rows > 1)
  for (int64_t r = 0; r < q.rows; ++r) {
    if (q.skip && q.skip[r]) continue;
    best_of_row(q.logits + r * q.vocab, q, q.base ? q.base[r] : 0.f, best.data() + r * q.keep);
  }
  for (int64_t i = 0; i < q.rows * q.keep; ++i) {
    scores[i] = best[size_t(i)].score;
    indices[i] = best[size_t(i)].index;
  }
}

}  // namespace heed
