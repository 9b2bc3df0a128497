#pragma once
// Small building blocks for CPU kernels written as lambdas.
#include <heed/error.h>

#include <cstdint>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/kernel_helpers.h"

namespace heed::cpu {

// Element offsets, under two stride sets, of row `o` of `shape` (all dims but the
// last, row-major): the index walk shared by the strided and broadcast loops.
inline std::pair<int64_t, int64_t> row_offsets(int64_t o, const Shape& shape, const Shape& sa, const Shape& sb) {
  int64_t oa = 0, ob = 0;
  for (int i = shape.rank() - 2; i >= 0; --i) {
    int64_t idx = o % shape[i];
    o /= shape[i];
    oa += idx * sa[i];
    ob += idx * sb[i];
  }
  return {oa, ob};
}

// Copies a block of `shape` elements of `elem` bytes between strided layouts
// (strides in elements). Serves Transpose, Slice, Concat and Split.
void strided_copy(void* dst, const Shape& dst_strides, const void* src, const Shape& src_strides,
                  const Shape& shape, size_t elem);

}  // namespace heed::cpu
