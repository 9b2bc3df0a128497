// Shape, Size, Range and ConstantOfShape on the GPU. Their outputs are known
// when the run is planned (dims, and the elements of Range's scalar inputs), as
// on the CPU: the bytes are uploaded once, when the kernel is prepared, and each
// run copies them on the device (a copy a CUDA Graph can record).
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

class PlannedOutput final : public Invocation {
 public:
  explicit PlannedOutput(const std::vector<char>& bytes) : bytes_(bytes.size()), data_((bytes.size() + 3) / 4) {
    if (bytes_) check(cudaMemcpy(data_.get(), bytes.data(), bytes_, cudaMemcpyHostToDevice), "uploading a planned output");
  }
  void run(const Buffers& io) override {
    if (bytes_) check(cudaMemcpyAsync(io.out(0), data_.get(), bytes_, cudaMemcpyDeviceToDevice, stream()), "a planned output");
  }

 private:
  size_t bytes_;
  DeviceFloats data_;
};

// n elements of s's output dtype, element i = value(i).
template <typename Value>
std::unique_ptr<Invocation> planned(const NodeShapes& s, int64_t n, Value value) {
  return dispatch_dtype(s.out[0].dtype, [&](auto zero) -> std::unique_ptr<Invocation> {
    using T = decltype(zero);
    std::vector<char> bytes(size_t(n) * sizeof(T));
    for (int64_t i = 0; i < n; ++i) {
      const T v = T(value(i));
      std::memcpy(bytes.data() + size_t(i) * sizeof(T), &v, sizeof(T));
    }
    return std::make_unique<PlannedOutput>(bytes);
  });
}

}  // namespace

void register_shape_kernels() {
  register_kernel("Shape", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const std::vector<int64_t>& dims = s.out[0].elements;  // the plan's: the attribute's slice of the input's dims
      return planned(s, int64_t(dims.size()), [&](int64_t i) { return dims[size_t(i)]; });
    });
  });
  register_kernel("Size", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) { return planned(s, 1, [&](int64_t) { return s.in[0].shape.numel(); }); });
  });
  register_kernel("Range", [](const KernelInit& init) {
    return kernel([where = init.node.where()](const NodeShapes& s) {
      const int64_t start = planned_scalar(s, 0, where), delta = planned_scalar(s, 2, where);
      return planned(s, s.out[0].shape.numel(), [&](int64_t i) { return start + i * delta; });
    });
  });
  register_kernel("ConstantOfShape", [](const KernelInit& init) {
    const double value = init.node.attr_float("value");
    return kernel([value](const NodeShapes& s) { return planned(s, s.out[0].shape.numel(), [&](int64_t) { return value; }); });
  });
}

}  // namespace heed::cuda
