#include "backends/cuda/cuda_backend.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "backends/cuda/cuda_kernels.h"
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
    register_logical_kernels();
    register_layout_kernels();
    register_shape_kernels();
    register_sdpa_kernels();
  });
  return storage();
}

// The profiler's clock on the GPU: one CUDA event per mark, recorded on the
// calling thread's stream, read once after the run.
class CudaEventClock final : public EventClock {
 public:
  explicit CudaEventClock(size_t marks) : events_(marks) {
    for (cudaEvent_t& e : events_) check(cudaEventCreate(&e), "cudaEventCreate");
  }
  ~CudaEventClock() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }
  void mark(size_t i) override { check(cudaEventRecord(events_.at(i), stream()), "cudaEventRecord"); }
  void elapsed_us(double* out, size_t n) override {
    check(cudaEventSynchronize(events_.at(n)), "cudaEventSynchronize");
    for (size_t i = 0; i < n; ++i) {
      float ms = 0;
      check(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]), "cudaEventElapsedTime");
      out[i] = double(ms) * 1000.0;
    }
  }

 private:
  std::vector<cudaEvent_t> events_;
};

// A CUDA Graph of one plan's kernels, replayed on the calling thread's stream.
class CudaGraph final : public RecordedWork {
 public:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraph() override { cudaGraphExecDestroy(exec_); }
  void replay() override { check(cudaGraphLaunch(exec_, stream()), "cudaGraphLaunch"); }

 private:
  cudaGraphExec_t exec_;
};

// Memory comes from the device's stream-ordered pool (cudaMallocAsync): freed
// blocks stay cached in the pool (no release threshold) and are reused without
// a device synchronization, as PyTorch's and CTranslate2's allocators do.
class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    int device = 0;
    cudaMemPool_t pool;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
    uint64_t keep_all = UINT64_MAX;
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all), "cudaMemPoolSetAttribute");
  }
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
  void fill_zero(void* dst, size_t bytes) const override {
    check(cudaMemsetAsync(dst, 0, bytes, stream()), "cudaMemsetAsync");
  }
  // Several blocks: the list goes to the device once (a pageable copy: the
  // host vector may go as soon as this returns), then one launch copies them all.
  void copy_blocks(const std::vector<CopyBlock>& blocks) const override {
    if (blocks.empty()) return;
    if (blocks.size() == 1) {  // one block (an output passed through): a plain device copy
      check(cudaMemcpyAsync(blocks[0].dst, blocks[0].src, blocks[0].bytes, cudaMemcpyDeviceToDevice, stream()),
            "copy within the GPU");
      return;
    }
    std::vector<DeviceCopy> list;
    list.reserve(blocks.size());
    for (const CopyBlock& b : blocks) list.push_back({b.dst, b.src, b.bytes});
    const size_t bytes = list.size() * sizeof(DeviceCopy);
    void* on_device = allocate(bytes);
    copy_in(on_device, list.data(), bytes);
    cuda::copy_blocks(static_cast<const DeviceCopy*>(on_device), int64_t(list.size()), stream());
    check_launch("copy_blocks");
    deallocate(on_device);
  }
  // Only the rows' base scores go in and their candidates come out.
  void best_candidates(const CandidateQuery& q, float* scores, int64_t* indices) const override {
    const size_t n = size_t(q.rows * q.keep);
    if (n == 0) return;
    BackendBuffer base(*this, q.base ? size_t(q.rows) * sizeof(float) : 0), picked_scores(*this, n * sizeof(float)),
        picked(*this, n * sizeof(int64_t));
    if (q.base) copy_in(base.get(), q.base, size_t(q.rows) * sizeof(float));
    cuda::best_candidates(q.logits, q.rows, q.vocab, q.keep, static_cast<const float*>(base.get()), q.hold, q.forced,
                          static_cast<float*>(picked_scores.get()), static_cast<int64_t*>(picked.get()), stream());
    check_launch("best_candidates");
    copy_out(scores, picked_scores.get(), n * sizeof(float));
    copy_out(indices, picked.get(), n * sizeof(int64_t));
    synchronize();
  }
  // Stream capture of what `work` queues; any failure (an operation capture does
  // not allow) abandons the capture, clears the error, and says so by nullptr.
  std::unique_ptr<RecordedWork> record(const std::function<void()>& work) const override {
    if (cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    bool failed = false;
    try {
      work();
    } catch (const std::exception&) {
      failed = true;
    }
    cudaGraph_t graph = nullptr;
    failed |= cudaStreamEndCapture(stream(), &graph) != cudaSuccess || !graph;
    cudaGraphExec_t exec = nullptr;
    failed |= !failed && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess;
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (failed) return nullptr;
    return std::make_unique<CudaGraph>(exec);
  }
  std::unique_ptr<EventClock> make_event_clock(size_t marks) const override {
    return std::make_unique<CudaEventClock>(marks);
  }
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
  static constexpr size_t kWorkspace = size_t(32) << 20;
  struct Handle {
    cublasHandle_t h = nullptr;
    Handle() {
      check(cublasCreate(&h), "cublasCreate");
      check(cublasSetStream(h, stream()), "cublasSetStream");
      check(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");  // fp32 stays fp32 (no TF32)
      // A workspace of its own, so that cuBLAS allocates nothing while a CUDA
      // Graph is being recorded (32 MiB: NVIDIA's advice for Hopper).
      check(cudaMalloc(&workspace, kWorkspace), "cudaMalloc (cuBLAS workspace)");
      check(cublasSetWorkspace(h, workspace, kWorkspace), "cublasSetWorkspace");
    }
    ~Handle() {
      cublasDestroy(h);
      cudaFree(workspace);
    }
    void* workspace = nullptr;
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
