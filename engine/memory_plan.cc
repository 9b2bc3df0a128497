#include "engine/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace heed {

std::vector<int64_t> assign_offsets(const std::vector<Lifetime>& lives, size_t* arena_bytes) {
  auto aligned = [](size_t b) { return (b + 63) / 64 * 64; };
  std::vector<size_t> order(lives.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lives[a].bytes > lives[b].bytes; });
  // The values placed so far, listed at every node index they are alive at, so
  // a value meets only those it overlaps: planning a long chain stays linear
  // instead of comparing every pair.
  int steps = 0;
  for (const Lifetime& l : lives) steps = std::max(steps, l.last + 1);
  std::vector<std::vector<size_t>> alive_at(static_cast<size_t>(steps));
  std::vector<size_t> seen(lives.size(), SIZE_MAX);
  std::vector<int64_t> offset(lives.size(), -1);
  std::vector<std::pair<int64_t, int64_t>> busy;
  size_t total = 0;
  for (size_t i : order) {
    busy.clear();
    for (int t = lives[i].first; t <= lives[i].last; ++t)
      for (size_t j : alive_at[size_t(t)])
        if (seen[j] != i) {
          seen[j] = i;
          busy.emplace_back(offset[j], offset[j] + int64_t(aligned(lives[j].bytes)));
        }
    std::sort(busy.begin(), busy.end());
    int64_t at = 0, need = int64_t(aligned(lives[i].bytes));
    for (auto [b, e] : busy) {
      if (b - at >= need) break;
      at = std::max(at, e);
    }
    offset[i] = at;
    total = std::max(total, size_t(at + need));
    for (int t = lives[i].first; t <= lives[i].last; ++t) alive_at[size_t(t)].push_back(i);
  }
  *arena_bytes = total;
  return offset;
}

}  // namespace heed
