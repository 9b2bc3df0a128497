#pragma once
// Concrete shapes for one input signature, and where each intermediate value
// lives in a session's arena. Offsets are assigned greedily by size among values
// whose lifetimes overlap, so freed space is reused.
#include <cstdint>
#include <vector>

#include "engine/backend.h"

namespace heed {

struct ShapePlan {
  std::vector<TensorDesc> values;  // per value id
  std::vector<NodeShapes> nodes;   // per node
  std::vector<int64_t> offset;     // arena offset, or -1 when the value lives elsewhere
  std::vector<int> alias_of;       // value id whose buffer a view output shares, or -1
  size_t arena_bytes = 0;
};

struct Lifetime {
  int value;
  size_t bytes;
  int first, last;  // node indices: defined at first, last read at last
};

// Returns offsets (indexed like `lives`) and the arena size; 64-byte aligned.
std::vector<int64_t> assign_offsets(const std::vector<Lifetime>& lives, size_t* arena_bytes);

}  // namespace heed
