// Gather and Embedding on the GPU. Ids are range-checked on the device; an id
// out of range is the same one-line error as on the CPU (which costs one
// device-to-host read of the check's result per run).
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

class GatherInvocation final : public Invocation {
 public:
  // data viewed as [outer, dim, inner]; ids flattened.
  GatherInvocation(const TensorDesc& data, const TensorDesc& ids, int axis, size_t data_input, size_t id_input,
                   bool wrap, std::string where)
      : data_input_(data_input), id_input_(id_input), ids64_(ids.dtype == DType::i64), wrap_(wrap), where_(std::move(where)) {
    dim_ = data.shape[axis];
    count_ = ids.shape.numel();
    int64_t inner = 1;
    for (int i = 0; i < axis; ++i) outer_ *= data.shape[i];
    for (int i = axis + 1; i < data.shape.rank(); ++i) inner *= data.shape[i];
    row_bytes_ = inner * int64_t(dtype_size(data.dtype));
  }

  void run(const Buffers& io) override {
    if (ids64_)
      gather_rows(io.in(data_input_), outer_, dim_, row_bytes_, io.in_as<int64_t>(id_input_), count_, wrap_, io.out(0), bad_.device(), stream());
    else
      gather_rows(io.in(data_input_), outer_, dim_, row_bytes_, io.in_as<int32_t>(id_input_), count_, wrap_, io.out(0), bad_.device(), stream());
    check_launch("gather");
    bad_.publish();
  }

  // An id out of range: the gather copied nothing, and the run fails naming it.
  void check_after_run(const Buffers& io) const override {
    const unsigned long long bad = bad_.value();
    if (!bad) return;
    const int64_t at = int64_t(bad) - 1;
    int64_t id = 0;
    const size_t size = ids64_ ? 8 : 4;
    int32_t id32 = 0;
    check(cudaMemcpy(ids64_ ? static_cast<void*>(&id) : static_cast<void*>(&id32),
                     static_cast<const char*>(io.in(id_input_)) + size_t(at) * size, size, cudaMemcpyDeviceToHost),
          "reading a bad id");
    if (!ids64_) id = id32;
    throw Error(fmt::format("{}: index {} at position {} is out of range [{}, {})", where_, id, at, wrap_ ? -dim_ : 0, dim_));
  }

 private:
  size_t data_input_, id_input_;
  bool ids64_, wrap_;
  std::string where_;
  int64_t outer_ = 1, dim_ = 0, count_ = 0, row_bytes_ = 0;
  DeviceCheck bad_;
};

}  // namespace

void register_gather_kernels() {
  register_kernel("Gather", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    const std::string where = init.node.where();
    return kernel([axis, where](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const int rank = s.in[0].shape.rank();
      return std::make_unique<GatherInvocation>(s.in[0], s.in[1], int(axis < 0 ? axis + rank : axis), 0, 1, true, where);
    });
  });
  register_kernel("Embedding", [](const KernelInit& init) {
    const std::string where = init.node.where();
    return kernel([where](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<GatherInvocation>(s.in[1], s.in[0], 0, 1, 0, false, where);
    });
  });
}

}  // namespace heed::cuda
