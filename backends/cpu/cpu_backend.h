#pragma once
// CPU backend: kernels registered by op name; oneDNN where it has the primitive,
// OpenMP loops elsewhere. Adding a kernel family: one file here, one line in
// register_cpu_kernels().
#include <functional>
#include <memory>
#include <string>

#include "engine/backend.h"

namespace heed::cpu {

using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelInit&)>;
// Whether the kernel its factory makes from `init` packs input `input` from its
// stored form (KernelInit::stored, in the kernel's precision) and never reads
// the input's f32 values (Backend::packs_stored).
using StoredPacking = std::function<bool(const KernelInit&, size_t input)>;
void register_kernel(const std::string& op, KernelFactory factory, StoredPacking packs_stored = nullptr);
// Backend::report of the CPU (cpu_report.cc).
std::string cpu_report();

void register_linear_kernels();
void register_matmul_kernels();
void register_softmax_kernels();
void register_layer_norm_kernels();
void register_gather_kernels();
void register_elementwise_kernels();
void register_view_kernels();
void register_transpose_kernels();
void register_concat_split_kernels();
void register_slice_kernels();
void register_cast_kernels();
void register_reduce_kernels();
void register_argmax_topk_kernels();
void register_mha_kernels();
void register_global_attention_kernels();
void register_local_attention_kernels();
void register_rnn_kernels();
void register_rnn_cell_kernels();
void register_conv_kernels();
void register_pool_kernels();
void register_logical_kernels();
void register_shape_ops_kernels();
void register_scan_and_layout_kernels();
void register_conv_transpose_kernels();
void register_sdpa_kernels();

}  // namespace heed::cpu
