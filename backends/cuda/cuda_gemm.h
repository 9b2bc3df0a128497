#pragma once
// cuBLAS GEMMs shared by the CUDA kernels.
#include <heed/tensor.h>

#include <cublas_v2.h>

#include <cstdint>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"

namespace heed::cuda {

// Row-major y[m, n] (row stride ldy) = act(x[m, k] (row stride ldx) . W^T + bias),
// W [n, k] in PyTorch's layout (row stride ldw, 0: k), or [k, n] when w_in_out
// (row stride ldw, 0: n), bias [n] or null. fp32, no TF32.
void linear_f32(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, int64_t n, const float* bias, float* y,
                int64_t ldy, Unary act = Unary::identity, int64_t ldw = 0, bool w_in_out = false);

// Half-precision GEMMs (LoadOptions::gemm_dtype f16 or bf16): operands rounded,
// fp32 accumulation and output.
cudaDataType_t cuda_type(DType t);  // f16 or bf16
// A constant weight in f16/bf16 on the device, converted once at load.
class HalfWeight {
 public:
  HalfWeight(const Tensor& w, DType dtype);
  ~HalfWeight();
  HalfWeight(const HalfWeight&) = delete;
  HalfWeight& operator=(const HalfWeight&) = delete;
  const uint16_t* get() const { return static_cast<const uint16_t*>(p_); }

 private:
  void* p_ = nullptr;
};
// f32 [n] rounded into `scratch` (room for n halves).
const uint16_t* to_half(const float* x, int64_t n, DType dtype, const DeviceFloats& scratch);
// linear_f32 with x [m, k] (contiguous) rounded into x_half and W [n, k] ([k, n]
// when w_in_out) already in `dtype`.
void linear_half(DType dtype, const float* x, int64_t m, int64_t k, const uint16_t* w, int64_t n, const float* bias,
                 float* y, int64_t ldy, const DeviceFloats& x_half, Unary act = Unary::identity, bool w_in_out = false);

}  // namespace heed::cuda
