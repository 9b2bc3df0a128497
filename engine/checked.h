#pragma once
// Overflow-safe size arithmetic. Every element and byte count that comes from a
// file (dims, attributes, ids) goes through these, so a hostile model fails
// with a named error instead of wrapping into a small allocation.
#include <heed/tensor.h>

#include <cstdint>
#include <optional>
#include <span>

namespace heed {

// The largest tensor heed will plan or allocate: 2^48 bytes (256 TiB). Far
// beyond any machine, yet small enough that sums and products of a few such
// sizes, and byte offsets into them, cannot overflow int64.
inline constexpr int64_t kMaxTensorBytes = int64_t(1) << 48;

inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The byte size of `dims` x `elem_bytes`, or nullopt when a dim is negative or
// the size exceeds kMaxTensorBytes.
inline std::optional<int64_t> checked_bytes(std::span<const int64_t> dims, size_t elem_bytes) {
  int64_t n = int64_t(elem_bytes);
  for (int64_t d : dims) {
    auto m = d < 0 ? std::nullopt : checked_mul(n, d);
    if (!m || *m > kMaxTensorBytes) return std::nullopt;
    n = *m;
  }
  return n;
}

}  // namespace heed
