#pragma once
// cuBLAS GEMMs shared by the CUDA kernels.
#include <cstdint>

#include "backends/cuda/cuda_kernels.h"

namespace heed::cuda {

// Row-major y[m, n] (row stride ldy) = act(x[m, k] (row stride ldx) . W^T + bias),
// W [n, k] in PyTorch's layout (row stride ldw, 0: k), bias [n] or null. fp32, no TF32.
void linear_f32(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, int64_t n, const float* bias, float* y,
                int64_t ldy, Unary act = Unary::identity, int64_t ldw = 0);

}  // namespace heed::cuda
