#pragma once
// Launch helpers shared by the .cu files: a 1-D grid over n elements, and a
// call with the unsigned integer type of an element size (kernels that only
// move elements need no more than their size).
#include <cstdint>

namespace heed::cuda {

constexpr int kBlockThreads = 256;
inline unsigned blocks_over(int64_t n) { return unsigned((n + kBlockThreads - 1) / kBlockThreads); }

// f(T{}) with T of elem_bytes bytes (1, 2, 4, else 8).
template <typename F>
void with_element_type(int elem_bytes, F&& f) {
  switch (elem_bytes) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

}  // namespace heed::cuda
