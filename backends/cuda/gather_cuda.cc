// Gather, GatherElements and Embedding on the GPU. Ids are range-checked on the device; an id
// out of range is the same one-line error as on the CPU (which costs one
// device-to-host read of the check's result per run).
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

// After a run: the id at the position `bad` reported (if any), out of [lo, dim), as an error.
void report_bad_id(const DeviceCheck& bad, const void* ids, bool ids64, const std::string& where, int64_t lo, int64_t dim) {
  if (!bad.value()) return;
  const int64_t at = int64_t(bad.value()) - 1;
  int64_t id = 0;
  int32_t id32 = 0;
  const size_t size = ids64 ? 8 : 4;
  check(cudaMemcpy(ids64 ? static_cast<void*>(&id) : static_cast<void*>(&id32),
                   static_cast<const char*>(ids) + size_t(at) * size, size, cudaMemcpyDeviceToHost),
        "reading a bad id");
  if (!ids64) id = id32;
  throw Error(fmt::format("{}: index {} at position {} is out of range [{}, {})", where, id, at, lo, dim));
}

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
    report_bad_id(bad_, io.in(id_input_), ids64_, where_, wrap_ ? -dim_ : 0, dim_);
  }

 private:
  size_t data_input_, id_input_;
  bool ids64_, wrap_;
  std::string where_;
  int64_t outer_ = 1, dim_ = 0, count_ = 0, row_bytes_ = 0;
  DeviceCheck bad_;
};

// GatherElements: y has the ids' shape; the data is read through its own strides.
class GatherElementsInvocation final : public Invocation {
 public:
  GatherElementsInvocation(const NodeShapes& s, int axis, std::string where)
      : axis_(axis), elem_(int(dtype_size(s.in[0].dtype))), ids64_(s.in[1].dtype == DType::i64), where_(std::move(where)) {
    const Shape &data = s.in[0].shape, &ids = s.in[1].shape;
    expect_kernel_rank(ids.rank(), where_);
    const Shape strides = strides_of(data);
    index_.rank = ids.rank();
    for (int d = 0; d < ids.rank(); ++d) index_.shape[d] = ids[d], index_.stride_a[d] = strides[d];
    dim_ = data[axis];
    n_ = ids.numel();
  }

  void run(const Buffers& io) override {
    if (ids64_)
      gather_elements(io.in(0), elem_, io.in_as<int64_t>(1), index_, axis_, dim_, n_, io.out(0), bad_.device(), stream());
    else
      gather_elements(io.in(0), elem_, io.in_as<int32_t>(1), index_, axis_, dim_, n_, io.out(0), bad_.device(), stream());
    check_launch("gather elements");
    bad_.publish();
  }
  void check_after_run(const Buffers& io) const override { report_bad_id(bad_, io.in(1), ids64_, where_, -dim_, dim_); }

 private:
  int axis_, elem_;
  bool ids64_;
  std::string where_;
  StridedIndex index_;
  int64_t dim_ = 0, n_ = 0;
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
  register_kernel("GatherElements", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    return kernel([axis, where = init.node.where()](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const int rank = s.in[0].shape.rank();
      return std::make_unique<GatherElementsInvocation>(s, int(axis < 0 ? axis + rank : axis), where);
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
