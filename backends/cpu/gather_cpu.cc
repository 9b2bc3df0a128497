// Gather and Embedding: row copies after a range check of every index (an id
// out of range is a one-line error, never a wild read). Gather takes negative
// indices from the end, as numpy's take and ONNX do; Embedding refuses them, as
// PyTorch's does. From a table a quantized file stores (Marian's embeddings,
// tied to its output projection), each row is made from its stored values as it
// is copied: the f32 table is never made, and only the rows read are touched.
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "engine/stored_weight.h"

namespace heed::cpu {
namespace {

template <typename Index>
void check_indices(const Index* idx, int64_t count, int64_t lowest, int64_t limit, const std::string& where) {
  for (int64_t i = 0; i < count; ++i)
    if (idx[i] < lowest || idx[i] >= limit)
      throw Error(fmt::format("{}: index {} at position {} is out of range [{}, {})", where,
                              int64_t(idx[i]), i, lowest, limit));
}

// data viewed as [outer, axis_dim, inner]; indices flattened.
std::unique_ptr<Invocation> gather(const TensorDesc& data, const TensorDesc& indices, int axis,
                                   size_t data_input, size_t index_input, bool wrap, std::string where) {
  int64_t outer = 1, inner = 1, dim = data.shape[axis], count = indices.shape.numel();
  for (int i = 0; i < axis; ++i) outer *= data.shape[i];
  for (int i = axis + 1; i < data.shape.rank(); ++i) inner *= data.shape[i];
  size_t row = size_t(inner) * dtype_size(data.dtype);
  return dispatch_dtype(indices.dtype, [&](auto zero) -> std::unique_ptr<Invocation> {
    using Index = decltype(zero);
    return invocation([=](const Buffers& io) {
      const Index* idx = io.in_as<Index>(index_input);
      check_indices(idx, count, wrap ? -dim : 0, dim, where);
      const char* src = static_cast<const char*>(io.in(data_input));
      char* dst = static_cast<char*>(io.out(0));
#pragma omp parallel for collapse(2) if (outer * count * int64_t(row) > 65536)
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < count; ++i)
          std::memcpy(dst + size_t(o * count + i) * row, src + size_t(o * dim + (idx[i] < 0 ? idx[i] + dim : idx[i])) * row, row);
    });
  });
}

// Rows of a stored table (axis 0), the values each stands for.
std::unique_ptr<Invocation> gather_stored(const StoredWeight* table, const TensorDesc& indices, size_t index_input,
                                          bool wrap, std::string where) {
  const int64_t dim = table->values.shape()[0], count = indices.shape.numel();
  const int64_t width = dim ? table->values.numel() / dim : 0;
  return dispatch_dtype(indices.dtype, [&](auto zero) -> std::unique_ptr<Invocation> {
    using Index = decltype(zero);
    return invocation([=](const Buffers& io) {
      const Index* idx = io.in_as<Index>(index_input);
      check_indices(idx, count, wrap ? -dim : 0, dim, where);
      float* dst = io.out_as<float>(0);
#pragma omp parallel for if (count * width > 65536)
      for (int64_t i = 0; i < count; ++i) f32_row(*table, int64_t(idx[i] < 0 ? idx[i] + dim : idx[i]), dst + i * width);
    });
  });
}

// Gather's data, or Embedding's table, read from its stored form: along axis 0.
bool reads_stored_table(const KernelInit& init, size_t table) {
  if (table >= init.stored.size() || !init.stored[table]) return false;
  const int64_t axis = init.node.op == "Embedding" ? 0 : init.node.attr_int("axis");
  return axis == 0 || axis == -int64_t(init.input_types[table].shape.size());
}

}  // namespace

void register_gather_kernels() {
  register_kernel(
      "Gather",
      [](const KernelInit& init) {
        int64_t axis = init.node.attr_int("axis");
        std::string where = init.node.where();
        const StoredWeight* stored = reads_stored_table(init, 0) ? init.stored[0] : nullptr;
        return kernel([axis, where, stored](const NodeShapes& s) {
          if (stored) return gather_stored(stored, s.in[1], 1, true, where);
          int rank = s.in[0].shape.rank();
          return gather(s.in[0], s.in[1], int(axis < 0 ? axis + rank : axis), 0, 1, true, where);
        }, Precision::f32, stored ? std::vector<int>{0} : std::vector<int>{});
      },
      [](const KernelInit& init, size_t input) { return input == 0 && reads_stored_table(init, 0); });
  register_kernel(
      "Embedding",
      [](const KernelInit& init) {
        std::string where = init.node.where();
        const StoredWeight* stored = reads_stored_table(init, 1) ? init.stored[1] : nullptr;
        return kernel([where, stored](const NodeShapes& s) {
          if (stored) return gather_stored(stored, s.in[0], 0, false, where);
          return gather(s.in[1], s.in[0], 0, 1, 0, false, where);
        }, Precision::f32, stored ? std::vector<int>{1} : std::vector<int>{});
      },
      [](const KernelInit& init, size_t input) { return input == 1 && reads_stored_table(init, 1); });
}

}  // namespace heed::cpu
