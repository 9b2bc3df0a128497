#pragma once
// CUDA backend: kernels registered by op name, as on the CPU; cuBLAS for the
// GEMMs, heed's own kernels (cuda_kernels.h) for the rest. Adding a kernel
// family: one *_cuda.cc here (plus its .cu launchers), one line in
// register_cuda_kernels().
#include <functional>
#include <memory>
#include <string>

#include "backends/cuda/cuda_kernels.h"
#include "engine/backend.h"

namespace heed::cuda {

// Errors naming the node: a rank above the kernels' kMaxRank, a dtype with no kernel.
void expect_kernel_rank(int rank, const std::string& where);
[[noreturn]] void no_kernel_for(DType dtype, const std::string& where);

// Strides of `in` read as `out` under numpy broadcasting (aligned at the right;
// size-1 and missing dims repeat: stride 0), in elements.
void broadcast_strides(const Shape& in, const Shape& out, int64_t* strides);
// The index of a binary op with numpy broadcasting: inputs 0 and 1 of s read as
// its output's shape (stride 0 along broadcast dims). `where` names the node in
// the error for a rank above kMaxRank.
StridedIndex broadcast_index(const NodeShapes& s, const std::string& where);

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
void register_logical_kernels();
void register_layout_kernels();
void register_shape_kernels();
void register_sdpa_kernels();

}  // namespace heed::cuda
