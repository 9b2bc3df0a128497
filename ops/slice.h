#pragma once
// Python slice semantics shared by the Slice shape rule and its kernels.
#include <heed/error.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/graph.h"

namespace heed::ops {

struct SliceRange {
  int64_t begin = 0, count = 0;
};

// start/end may be negative (from the end) or past the end (clamped); step != 0.
// A negative step walks backwards from start (clamped to [0, dim - 1]) down to
// end (clamped to [-1, dim - 1]), as numpy and ONNX do.
inline SliceRange slice_range(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto from_end = [dim](int64_t i) { return i < 0 ? (i < -dim ? -dim - 1 : i + dim) : i; };  // no overflow at INT64_MIN
  if (step < 0) {
    if (dim == 0) return {0, 0};
    int64_t b = std::clamp(from_end(start), int64_t(0), dim - 1), e = std::clamp(from_end(end), int64_t(-1), dim - 1);
    return {b, b > e ? (b - e - 1) / -std::max(step, -INT64_MAX) + 1 : 0};
  }
  int64_t b = std::clamp(from_end(start), int64_t(0), dim), e = std::clamp(from_end(end), int64_t(0), dim);
  return {b, e > b ? (e - b - 1) / step + 1 : 0};  // no e - b + step, which overflows for a huge step
}

// A step as a kernel strides with it: beyond the dim (either way) it takes one
// element, as a step of the dim does, so that stride * step cannot overflow.
inline int64_t clamped_step(int64_t step, int64_t dim) {
  const int64_t limit = std::max<int64_t>(dim, 1);
  return std::clamp(step, -limit, limit);
}

// A Slice kernel's starts and ends: its attributes, or inputs 1 and 2 computed
// by the graph, whose elements the plan knows (the output's shape depends on them).
class SliceBounds {
 public:
  explicit SliceBounds(const ir::Node& n) : from_inputs_(n.has_input(1)), where_(n.where()) {
    if (!from_inputs_) starts_ = n.attr_ints("starts"), ends_ = n.attr_ints("ends");
  }
  const std::vector<int64_t>& starts(const NodeShapes& s) const { return pick(s, 1, starts_); }
  const std::vector<int64_t>& ends(const NodeShapes& s) const { return pick(s, 2, ends_); }

 private:
  const std::vector<int64_t>& pick(const NodeShapes& s, size_t input, const std::vector<int64_t>& attr) const {
    if (!from_inputs_) return attr;
    const std::vector<int64_t>& e = s.in[input].elements;
    if (int64_t(e.size()) != s.in[input].shape.numel())
      throw Error(where_ + ": starts and ends are computed from the data, not from shapes; heed needs them when it "
                           "plans the run");
    return e;
  }
  bool from_inputs_;
  std::string where_;
  std::vector<int64_t> starts_, ends_;
};

}  // namespace heed::ops
