// GEMM efficiency on the GPU (issue 6): heed's Linear node (a one-node graph on
// Device::cuda, input and output tensors kept in device memory, so no copies at
// the boundaries) against cuBLAS called directly for the same product, in fp32
// (no TF32, as heed) and f16 tensor cores with fp32 accumulation. Shapes are
// an opus-mt-sized Marian's: decoder steps at 32 and 128 rows, encoder batches,
// the vocabulary projection. Both sides synchronize after each call. Prints a
// markdown table; exits 0 with a message where there is no GPU.
//
//   heed_bench_cuda_gemm [--repeats R] [--iters I]
#include <heed/model.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "engine/half.h"

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw heed::Error(std::string(what) + ": " + cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw heed::Error(std::string(what) + ": " + cublasGetStatusString(s));
}

// Device memory holding a host tensor's values as f32, or rounded to f16.
void* upload(const heed::Tensor& t, bool half) {
  void* p = nullptr;
  const size_t n = size_t(t.numel());
  check(cudaMalloc(&p, n * (half ? 2 : 4)), "cudaMalloc");
  if (!half) {
    check(cudaMemcpy(p, t.data(), n * 4, cudaMemcpyHostToDevice), "cudaMemcpy");
    return p;
  }
  std::vector<uint16_t> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = heed::f32_to_f16(t.data_as<float>()[i]);
  check(cudaMemcpy(p, h.data(), n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

struct Gemm {
  int64_t m, k, n;
  const char* what;
};

}  // namespace

int main(int argc, char** argv) {
  using nlohmann::json;
  heed::bench::Options o = heed::bench::parse_options(argc, argv);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("heed_bench_cuda_gemm: no CUDA device here; nothing measured\n");
    return 0;
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  check(cublasSetStream(handle, cudaStreamPerThread), "cublasSetStream");
  check(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
  std::printf("y[m, n] = x[m, k] . W[n, k]^T on %s, median of %d x %d calls, each synchronized\n\n", prop.name,
              o.repeats, o.iters);
  std::printf("| gemm | m | k | n | precision | heed Linear (us) | cuBLAS alone (us) | heed / cuBLAS speed | heed TFLOP/s |\n");
  std::printf("|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
  const std::vector<Gemm> gemms = {{32, 512, 2048, "decoder FFN, batch 32"},   {128, 512, 2048, "decoder FFN, 32 x beam 4"},
                                   {128, 512, 58101, "vocabulary, 32 x beam 4"}, {1024, 512, 2048, "encoder FFN, 1k tokens"},
                                   {4096, 512, 2048, "encoder FFN, 4k tokens"},  {4096, 2048, 512, "encoder FFN out, 4k tokens"}};
  for (const Gemm& g : gemms)
    for (bool half : {false, true}) {
      heed::Tensor w = heed::bench::random_tensor({g.n, g.k}, 1), x = heed::bench::random_tensor({g.m, g.k}, 2, 1.f);
      json graph = {{"inputs", json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {g.m, g.k}}}})},
                    {"outputs", {"y"}},
                    {"nodes", {{{"name", "gemm"}, {"op", "Linear"}, {"inputs", {"x", "w"}}, {"outputs", {"y"}}}}}};
      heed::LoadOptions lo;
      lo.device = heed::Device::cuda;
      lo.gemm_dtype = half ? heed::DType::f16 : heed::DType::f32;
      heed::Model model = heed::bench::load_graph("cuda_gemm", graph, {{"w", w}}, lo);
      heed::Session session(model);
      heed::TensorMap in = {{"x", session.to_device(x)}};
      heed::TensorMap out = {{"y", session.new_tensor(heed::DType::f32, {g.m, g.n})}};
      void *dw = upload(w, half), *dx = upload(x, half), *dy = nullptr;
      check(cudaMalloc(&dy, size_t(g.m * g.n) * 4), "cudaMalloc");
      const float one = 1.f, zero = 0.f;
      auto cublas_alone = [&] {
        const int m = int(g.m), k = int(g.k), n = int(g.n);
        if (half)
          check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, dw, CUDA_R_16F, k, dx, CUDA_R_16F, k, &zero, dy,
                             CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx");
        else
          check(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, static_cast<const float*>(dw), k,
                            static_cast<const float*>(dx), k, &zero, static_cast<float*>(dy), n),
                "cublasSgemm");
        check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
      };
      auto t = heed::bench::median_us(o, 5, {[&] { session.run(in, out); }, cublas_alone});
      std::printf("| %s | %ld | %ld | %ld | %s | %.1f | %.1f | %.2fx | %.1f |\n", g.what, long(g.m), long(g.k), long(g.n),
                  half ? "f16, fp32 accumulate" : "fp32", t[0], t[1], t[1] / t[0], 2.0 * double(g.m * g.n * g.k) / t[0] / 1e6);
      std::fflush(stdout);
      cudaFree(dw);
      cudaFree(dx);
      cudaFree(dy);
    }
  cublasDestroy(handle);
}
