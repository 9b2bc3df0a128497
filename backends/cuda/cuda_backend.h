#pragma once
// CUDA backend: kernels registered by op name, as on the CPU; cuBLAS for the
// GEMMs, heed's own kernels (cuda_kernels.h) for the rest. Adding a kernel
// family: one *_cuda.cc here (plus its .cu launchers), one line in
// register_cuda_kernels().
#include <functional>
#include <memory>
#include <string>

#include "engine/backend.h"

namespace heed::cuda {

using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelInit&)>;
void register_kernel(const std::string& op, KernelFactory factory);

void register_elementwise_kernels();
void register_normalize_kernels();
void register_gemm_kernels();
void register_copy_kernels();
void register_gather_kernels();
void register_select_kernels();
void register_mha_kernels();
void register_recurrent_kernels();
void register_luong_attention_kernels();
void register_conv_kernels();

}  // namespace heed::cuda
