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
  std::vector<int64_t> offset(lives.size(), -1);
  std::vector<size_t> placed;
  size_t total = 0;
  for (size_t i : order) {
    // Intervals already placed that are alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (lives[j].first <= lives[i].last && lives[i].first <= lives[j].last)
        busy.emplace_back(offset[j], offset[j] + int64_t(aligned(lives[j].bytes)));
    std::sort(busy.begin(), busy.end());
    int64_t at = 0, need = int64_t(aligned(lives[i].bytes));
    for (auto [b, e] : busy) {
      if (b - at >= need) break;
      at = std::max(at, e);
    }
    offset[i] = at;
    total = std::max(total, size_t(at + need));
    placed.push_back(i);
  }
  *arena_bytes = total;
  return offset;
}

}  // namespace heed
