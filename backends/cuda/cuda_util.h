#pragma once
// Error checks and per-thread handles for the CUDA backend. Work is queued on
// the calling thread's default stream (cudaStreamPerThread), so sessions on
// different threads never wait for each other.
#include <heed/error.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

namespace heed::cuda {

inline cudaStream_t stream() { return cudaStreamPerThread; }

void throw_cuda(cudaError_t e, const char* what);
void throw_cublas(cublasStatus_t s, const char* what);

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_cuda(e, what);
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(s, what);
}
// After a kernel launch: a bad configuration shows up here.
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

// The calling thread's cuBLAS handle, bound to its stream.
cublasHandle_t cublas();

}  // namespace heed::cuda
