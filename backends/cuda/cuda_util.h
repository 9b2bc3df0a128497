#pragma once
// Error checks and per-thread handles for the CUDA backend. Work is queued on
// the calling thread's default stream (cudaStreamPerThread), so sessions on
// different threads never wait for each other.
#include <heed/error.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>
#include <utility>

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

// Device floats owned by one invocation: allocated at prepare, freed with it.
class DeviceFloats {
 public:
  explicit DeviceFloats(size_t n = 0) {
    if (n) check(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(float)), "cudaMalloc (kernel scratch)");
  }
  DeviceFloats(DeviceFloats&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  DeviceFloats& operator=(DeviceFloats&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~DeviceFloats() { cudaFree(p_); }
  float* get() const { return p_; }

 private:
  float* p_ = nullptr;
};

// A word that device kernels set to report bad data (an id out of range), read
// by the host after the run without a synchronization of its own: run() clears
// it on the device and, after the kernels, copies it to pinned host memory, all
// queued (and recordable in a CUDA Graph); check_after_run reads that copy.
class DeviceCheck {
 public:
  DeviceCheck() {
    check(cudaMalloc(reinterpret_cast<void**>(&device_), sizeof *device_), "cudaMalloc (device check)");
    check(cudaMallocHost(reinterpret_cast<void**>(&host_), sizeof *host_), "cudaMallocHost (device check)");
    *host_ = 0;
  }
  ~DeviceCheck() {
    cudaFree(device_);
    cudaFreeHost(host_);
  }
  DeviceCheck(const DeviceCheck&) = delete;
  DeviceCheck& operator=(const DeviceCheck&) = delete;
  unsigned long long* device() const { return device_; }
  void clear() const { check(cudaMemsetAsync(device_, 0, sizeof *device_, stream()), "clearing a device check"); }
  void publish() const {
    check(cudaMemcpyAsync(host_, device_, sizeof *host_, cudaMemcpyDeviceToHost, stream()), "reading a device check");
  }
  unsigned long long value() const { return *host_; }  // after the run's work is done

 private:
  unsigned long long* device_ = nullptr;
  unsigned long long* host_ = nullptr;
};

}  // namespace heed::cuda
