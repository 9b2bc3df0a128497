#pragma once
// Building blocks for kernels written as lambdas, shared by the backends.
#include <heed/error.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/backend.h"

namespace heed {

template <typename Run>
class FnInvocation final : public Invocation {
 public:
  FnInvocation(Run run, size_t workspace) : run_(std::move(run)), workspace_(workspace) {}
  void run(const Buffers& io) override { run_(io); }
  size_t workspace_bytes() const override { return workspace_; }

 private:
  Run run_;
  size_t workspace_;
};

// An invocation from a lambda `void(const Buffers&)` that uses `workspace`
// bytes of io.workspace.
template <typename Run>
std::unique_ptr<Invocation> invocation(Run run, size_t workspace = 0) {
  return std::make_unique<FnInvocation<Run>>(std::move(run), workspace);
}

// Spans of an invocation's workspace (Invocation::workspace_bytes), placed at
// prepare time, each 64-byte aligned; run() finds span `at` at workspace + at.
struct WorkspacePlan {
  size_t bytes = 0;
  size_t add(size_t n) {
    const size_t at = bytes;
    bytes += (n + 63) / 64 * 64;
    return at;
  }
  // A span shared by steps that never use it at the same time.
  size_t add_shared(const std::vector<size_t>& sizes) {
    size_t n = 0;
    for (size_t s : sizes) n = std::max(n, s);
    return add(n);
  }
};
template <typename T>
T* workspace_at(void* workspace, size_t at) {
  return reinterpret_cast<T*>(static_cast<unsigned char*>(workspace) + at);
}

template <typename Prepare>
class FnKernel final : public Kernel {
 public:
  FnKernel(Prepare prepare, Precision precision, std::vector<int> kept_inputs, std::optional<QuantizedIO> io = {})
      : prepare_(std::move(prepare)), precision_(precision), kept_inputs_(std::move(kept_inputs)), io_(std::move(io)) {}
  std::unique_ptr<Invocation> prepare(const NodeShapes& shapes) const override { return prepare_(shapes); }
  Precision precision() const override { return precision_; }
  bool reads_constant(size_t input) const override {
    return std::find(kept_inputs_.begin(), kept_inputs_.end(), int(input)) == kept_inputs_.end();
  }
  const QuantizedIO* quantized_io() const override { return io_ ? &*io_ : nullptr; }

 private:
  Prepare prepare_;
  Precision precision_;
  std::vector<int> kept_inputs_;
  std::optional<QuantizedIO> io_;
};

// A kernel from a lambda `std::unique_ptr<Invocation>(const NodeShapes&)`, whose
// GEMMs run in `precision`; `kept_inputs`: constant inputs it holds copies of
// (never read when it runs: the model frees them unless another node reads them).
template <typename Prepare>
std::unique_ptr<Kernel> kernel(Prepare prepare, Precision precision = Precision::f32, std::vector<int> kept_inputs = {}) {
  return std::make_unique<FnKernel<Prepare>>(std::move(prepare), precision, std::move(kept_inputs));
}

// The same, for a kernel that reads and writes quantized values (QuantizedIO).
template <typename Prepare>
std::unique_ptr<Kernel> quantized_kernel(Prepare prepare, Precision precision, std::vector<int> kept_inputs,
                                         QuantizedIO io) {
  return std::make_unique<FnKernel<Prepare>>(std::move(prepare), precision, std::move(kept_inputs), std::move(io));
}

// Calls f(T{}) with T the C++ type of `dtype`.
template <typename F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: case DType::boolean: return f(uint8_t{});
    case DType::f16: case DType::bf16: return f(uint16_t{});
    case DType::i8: break;  // stored quantized weights only (engine/weights.h), never a graph value
  }
  throw Error(fmt::format("no kernel takes {} values", dtype_name(dtype)));
}

// Row-major strides (in elements) of a shape.
inline Shape strides_of(const Shape& shape) {
  Shape s = shape;
  int64_t step = 1;
  for (int i = shape.rank(); i-- > 0;) {
    s[i] = step;
    step *= shape[i];
  }
  return s;
}

// A tensor seen as rows along one axis: element (o, j, i) sits at (o * n + j) * inner + i,
// and row r = o * inner + i starts at base(r) with stride `inner`.
struct Rows {
  int64_t outer = 1, n = 1, inner = 1;
  int64_t count() const { return outer * inner; }
  int64_t base(int64_t row) const { return (row / inner) * n * inner + row % inner; }
};

inline Rows rows_of(const Shape& shape, int64_t axis_attr) {
  int axis = int(axis_attr < 0 ? axis_attr + shape.rank() : axis_attr);
  Rows r{1, shape[axis], 1};
  for (int i = 0; i < axis; ++i) r.outer *= shape[i];
  for (int i = axis + 1; i < shape.rank(); ++i) r.inner *= shape[i];
  return r;
}

// Strides over [B, H, T] of an attention mask whose shape broadcasts (aligned to
// the right) to [B, H, T, keys]: a dim of 1 (or missing) gets stride 0.
inline void mask_broadcast_strides(const Shape& mask, int64_t (&strides)[3]) {
  int64_t dims[4] = {1, 1, 1, 1};
  for (int d = 0; d < mask.rank(); ++d) dims[4 - mask.rank() + d] = mask[d];
  int64_t below = dims[3];
  for (int d = 2; d >= 0; --d) {
    strides[d] = dims[d] == 1 ? 0 : below;
    below *= dims[d];
  }
}

// A row-major [rows, cols] matrix whose rows lie `ld` apart, transposed into
// `to` ([cols, rows]), times `scale`. In 32 x 32 tiles: element by element,
// every write of a large weight went to another cache line.
inline void transpose_into(const float* from, int64_t ld, int64_t rows, int64_t cols, float* to, float scale = 1.f) {
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (int64_t j0 = 0; j0 < cols; j0 += kTile)
      for (int64_t j = j0; j < std::min(cols, j0 + kTile); ++j)
        for (int64_t i = i0; i < std::min(rows, i0 + kTile); ++i) to[j * rows + i] = from[i * ld + j] * scale;
}

// The same into a new [cols, rows] tensor of a dense [rows, cols] matrix.
inline Tensor transposed_matrix(const float* from, int64_t rows, int64_t cols, float scale = 1.f) {
  Tensor t = Tensor::empty(DType::f32, Shape({cols, rows}));
  transpose_into(from, cols, rows, cols, t.data_as<float>(), scale);
  return t;
}

// Whether optional input i was given.
// A scalar input's value, known to the plan (Range's start and delta).
inline int64_t planned_scalar(const NodeShapes& s, size_t i, const std::string& where) {
  if (s.in[i].elements.size() != 1)
    throw Error(fmt::format("{}: input {} is computed from the data, not from shapes; heed needs it when it plans "
                            "the run", where, i));
  return s.in[i].elements[0];
}

inline bool present(const NodeShapes& s, size_t i) { return i < s.in.size() && s.in[i].present; }

}  // namespace heed
