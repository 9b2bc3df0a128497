// cuBLAS opened on first use (dlopen), not linked. Loading libcublas maps and
// relocates it and libcublasLt, about 150 MB of resident memory, at the start
// of every process that links them: a CPU-only `heed translate` carried that in
// its peak RSS, and heed would not start at all on a machine without the CUDA
// libraries. Each cuBLAS function heed calls is defined here with the header's
// own signature (a mismatch does not compile) and forwards to the library's.
#include <cublas_v2.h>
#include <dlfcn.h>

#include <heed/error.h>

#include <string>

#include <fmt/format.h>

namespace heed::cuda {
namespace {

void* open_cublas() {
  const std::string name = fmt::format("libcublas.so.{}", CUBLAS_VER_MAJOR);
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
#ifdef HEED_CUDA_LIBRARY_DIR
  if (!lib) lib = dlopen((std::string(HEED_CUDA_LIBRARY_DIR) + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
  if (!lib) throw Error(fmt::format("device 'cuda': cannot load {} ({})", name, dlerror()));
  return lib;
}

void* cublas_symbol(const char* name) {
  static void* const lib = open_cublas();
  void* fn = dlsym(lib, name);
  if (!fn) throw Error(fmt::format("device 'cuda': {} has no {}", "libcublas", name));
  return fn;
}

// The argument types deduced from the forwarding function's own parameters
// are its signature, so the pointer is called with the type it has.
template <class R, class... A>
R call(void* fn, A... args) {
  return reinterpret_cast<R (*)(A...)>(fn)(args...);
}

}  // namespace
}  // namespace heed::cuda

#define HEED_FORWARD(R, name, ...)                                         \
  static void* const fn = ::heed::cuda::cublas_symbol(#name);              \
  return ::heed::cuda::call<R>(fn, __VA_ARGS__)

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) { HEED_FORWARD(cublasStatus_t, cublasCreate_v2, handle); }
cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) { HEED_FORWARD(cublasStatus_t, cublasDestroy_v2, handle); }
cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  HEED_FORWARD(cublasStatus_t, cublasSetStream_v2, handle, stream);
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  HEED_FORWARD(cublasStatus_t, cublasSetMathMode, handle, mode);
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  HEED_FORWARD(cublasStatus_t, cublasSetWorkspace_v2, handle, workspace, bytes);
}
const char* cublasGetStatusString(cublasStatus_t status) {
  HEED_FORWARD(const char*, cublasGetStatusString, status);
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
  HEED_FORWARD(cublasStatus_t, cublasSgemm_v2, handle, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long stride_a,
                                         const float* B, int ldb, long long stride_b, const float* beta, float* C,
                                         int ldc, long long stride_c, int count) {
  HEED_FORWARD(cublasStatus_t, cublasSgemmStridedBatched, handle, ta, tb, m, n, k, alpha, A, lda, stride_a, B, ldb,
               stride_b, beta, C, ldc, stride_c, count);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType a_type, int lda, const void* B,
                            cudaDataType b_type, int ldb, const void* beta, void* C, cudaDataType c_type, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
  HEED_FORWARD(cublasStatus_t, cublasGemmEx, handle, ta, tb, m, n, k, alpha, A, a_type, lda, B, b_type, ldb, beta, C,
               c_type, ldc, compute, algo);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                          int n, int k, const void* alpha, const void* A, cudaDataType a_type, int lda,
                                          long long stride_a, const void* B, cudaDataType b_type, int ldb,
                                          long long stride_b, const void* beta, void* C, cudaDataType c_type, int ldc,
                                          long long stride_c, int count, cublasComputeType_t compute,
                                          cublasGemmAlgo_t algo) {
  HEED_FORWARD(cublasStatus_t, cublasGemmStridedBatchedEx, handle, ta, tb, m, n, k, alpha, A, a_type, lda, stride_a, B,
               b_type, ldb, stride_b, beta, C, c_type, ldc, stride_c, count, compute, algo);
}

}  // extern "C"
