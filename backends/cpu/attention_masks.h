#pragma once
// Masks as the attention kernels take them: additive f32. A bool/u8 mask (true =
// hide, PyTorch's convention) is turned into 0 / -inf in a buffer owned by the
// invocation, once per run.
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/kernel_helpers.h"

namespace heed::cpu {

class AdditiveMask {
 public:
  AdditiveMask() = default;
  explicit AdditiveMask(const TensorDesc& d) : present_(d.present), is_bool_(d.present && d.dtype != DType::f32) {
    if (is_bool_) buf_.resize(size_t(d.shape.numel()));
  }
  // The additive mask for this run's input pointer (nullptr when absent).
  const float* get(const void* input) {
    if (!present_ || !input) return nullptr;
    if (!is_bool_) return static_cast<const float*>(input);
    const uint8_t* m = static_cast<const uint8_t*>(input);
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = m[i] ? -INFINITY : 0.f;
    return buf_.data();
  }

 private:
  bool present_ = false, is_bool_ = false;
  std::vector<float> buf_;
};

}  // namespace heed::cpu
