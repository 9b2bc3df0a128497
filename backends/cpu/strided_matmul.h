#pragma once
// C = alpha * A B (+ bias) (+ C when accumulating) over [batch0, batch1, rows, cols]
// operands with arbitrary element strides, on a oneDNN matmul created once.
// The attention kernels use it for head-split views (no transposes are copied)
// and for projections. Pointers are given per call; run() does not allocate.
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace heed::cpu {

struct View4 {
  std::array<int64_t, 4> dims{1, 1, 1, 1};
  std::array<int64_t, 4> strides{0, 0, 0, 1};

  // A row-major [rows, cols] matrix with row stride `ld`.
  static View4 matrix(int64_t rows, int64_t cols, int64_t ld) { return {{1, 1, rows, cols}, {0, 0, ld, 1}}; }
  // The transpose of a row-major [cols, rows] matrix with row stride `ld`, e.g. a
  // PyTorch [out, in] weight read as [in, out].
  static View4 transposed(int64_t rows, int64_t cols, int64_t ld) { return {{1, 1, rows, cols}, {0, 0, 1, ld}}; }
  View4 with_rows(int64_t rows) const {
    View4 v = *this;
    v.dims[2] = rows;
    return v;
  }
  View4 with_cols(int64_t cols) const {
    View4 v = *this;
    v.dims[3] = cols;
    return v;
  }
};

class StridedMatmul {
 public:
  StridedMatmul() = default;
  StridedMatmul(const View4& a, const View4& b, const View4& c, float alpha = 1.f, bool accumulate = false,
                bool bias = false);
  void run(const float* a, const float* b, float* c, const float* bias = nullptr);
  bool valid() const { return bool(prim_); }

 private:
  dnnl::primitive prim_;
  dnnl::memory a_, b_, c_, bias_, scratch_;
  dnnl::stream stream_;
  std::vector<dnnl_exec_arg_t> args_;
};

}  // namespace heed::cpu
