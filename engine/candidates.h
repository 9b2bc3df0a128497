#pragma once
// A scored token of generation's search.
#include <cstdint>

namespace heed {

struct Candidate {
  float score;
  int64_t index;
  // transformers' order: higher score first, then the lower index
  static bool better(const Candidate& x, const Candidate& y) {
    return x.score != y.score ? x.score > y.score : x.index < y.index;
  }
};

}  // namespace heed
