#pragma once
// Python slice semantics shared by the Slice shape rule and its kernels.
#include <algorithm>
#include <cstdint>

namespace heed::ops {

struct SliceRange {
  int64_t begin = 0, count = 0;
};

// start/end may be negative (from the end) or past the end (clamped); step > 0.
inline SliceRange slice_range(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto clamp = [dim](int64_t i) { return std::clamp(i < 0 ? i + dim : i, int64_t(0), dim); };
  int64_t b = clamp(start), e = clamp(end);
  return {b, e > b ? (e - b - 1) / step + 1 : 0};  // no e - b + step, which overflows for a huge step
}

}  // namespace heed::ops
