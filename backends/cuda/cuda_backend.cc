#include "backends/cuda/cuda_backend.h"

#include <map>
#include <mutex>

#include <fmt/format.h>

#include "backends/cuda/cuda_util.h"

namespace heed {
namespace cuda {
namespace {

std::map<std::string, KernelFactory, std::less<>>& storage() {
  static std::map<std::string, KernelFactory, std::less<>> kernels;
  return kernels;
}

const std::map<std::string, KernelFactory, std::less<>>& kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_elementwise_kernels();
    register_normalize_kernels();
    register_gemm_kernels();
    register_copy_kernels();
    register_gather_kernels();
    register_select_kernels();
    register_mha_kernels();
    register_recurrent_kernels();
    register_luong_attention_kernels();
    register_conv_kernels();
  });
  return storage();
}

// Memory comes from the device's stream-ordered pool (cudaMallocAsync): freed
// blocks are cached by the driver and reused without a device synchronization.
class CudaBackend final : public Backend {
 public:
  std::string_view name() const override { return "cuda"; }
  bool supports(std::string_view op) const override { return kernels().count(op) > 0; }
  std::unique_ptr<Kernel> make_kernel(const KernelInit& init) const override {
    auto it = kernels().find(init.node.op);
    if (it == kernels().end()) throw Error(fmt::format("{}: no CUDA kernel for this op", init.node.where()));
    return it->second(init);
  }
  void set_threads(int) const override {}
  int default_threads() const override { return 1; }
  Device device() const override { return Device::cuda; }
  void* allocate(size_t bytes) const override {
    void* p = nullptr;
    check(cudaMallocAsync(&p, bytes, stream()), "cudaMallocAsync");
    return p;
  }
  void deallocate(void* p) const override { cudaFreeAsync(p, stream()); }
  void copy_in(void* dst, const void* host_src, size_t bytes) const override {
    check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream()), "copy to the GPU");
  }
  void copy_out(void* host_dst, const void* src, size_t bytes) const override {
    check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "copy from the GPU");
  }
  void synchronize() const override { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }
};

}  // namespace

void register_kernel(const std::string& op, KernelFactory factory) { storage()[op] = std::move(factory); }

void throw_cuda(cudaError_t e, const char* what) {
  throw Error(fmt::format("CUDA error in {}: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e)));
}

void throw_cublas(cublasStatus_t s, const char* what) {
  throw Error(fmt::format("cuBLAS error in {}: {}", what, cublasGetStatusString(s)));
}

cublasHandle_t cublas() {
  struct Handle {
    cublasHandle_t h = nullptr;
    Handle() {
      check(cublasCreate(&h), "cublasCreate");
      check(cublasSetStream(h, stream()), "cublasSetStream");
      check(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");  // fp32 stays fp32 (no TF32)
    }
    ~Handle() { cublasDestroy(h); }
  };
  thread_local Handle handle;
  return handle.h;
}

}  // namespace cuda

const Backend& cuda_backend() {
  static const std::string unavailable = [] {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) return fmt::format("device 'cuda' is not available: {}", cudaGetErrorString(e));
    if (count == 0) return std::string("device 'cuda' is not available: no CUDA device found");
    return std::string();
  }();
  if (!unavailable.empty()) throw Error(unavailable);
  static const cuda::CudaBackend backend;
  return backend;
}

}  // namespace heed
