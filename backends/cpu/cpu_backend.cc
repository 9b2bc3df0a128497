#include "backends/cpu/cpu_backend.h"

#include <heed/error.h>

#include <map>

#include <fmt/format.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/dnnl_util.h"

namespace heed::cpu {
namespace {

struct Registered {
  KernelFactory factory;
  StoredPacking packs_stored;
};
using KernelTable = std::map<std::string, Registered, std::less<>>;

KernelTable& storage() {
  static KernelTable table;
  return table;
}

void register_cpu_kernels() {
  register_linear_kernels();
  register_matmul_kernels();
  register_softmax_kernels();
  register_layer_norm_kernels();
  register_gather_kernels();
  register_elementwise_kernels();
  register_logical_kernels();
  register_shape_ops_kernels();
  register_scan_and_layout_kernels();
  register_conv_transpose_kernels();
  register_sdpa_kernels();
  register_view_kernels();
  register_transpose_kernels();
  register_concat_split_kernels();
  register_slice_kernels();
  register_cast_kernels();
  register_reduce_kernels();
  register_argmax_topk_kernels();
  register_mha_kernels();
  register_global_attention_kernels();
  register_local_attention_kernels();
  register_rnn_kernels();
  register_rnn_cell_kernels();
  register_conv_kernels();
  register_pool_kernels();
}

const KernelTable& kernels() {
  static const bool registered = (register_cpu_kernels(), true);
  (void)registered;
  return storage();
}

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool supports(std::string_view op) const override { return kernels().count(op) > 0; }
  std::unique_ptr<Kernel> make_kernel(const KernelInit& init) const override {
    auto it = kernels().find(init.node.op);
    if (it == kernels().end())
      throw Error(fmt::format("{}: no CPU kernel for this op", init.node.where()));
    return it->second.factory(init);
  }
  bool packs_stored(const KernelInit& init, size_t input) const override {
    auto it = kernels().find(init.node.op);
    return it != kernels().end() && it->second.packs_stored && it->second.packs_stored(init, input);
  }
  void set_threads(int threads) const override { omp_set_num_threads(threads); }
  std::string report() const override { return cpu_report(); }
  // oneDNN's fp32 convolutions run fastest on nChw16c (AVX-512) or nChw8c (AVX2);
  // its bf16 and int8 ones on channels last (with AMX, bf16 brgconv at 8-9x the
  // fp32 speed of a ResNet layer, where nChw16c falls back to jit_bf16 at fp32's).
  int channel_block(Precision precision) const override {
    static const int block = (cpu_engine(), dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core) ? 16 : 8;
    return precision == Precision::f32 ? block : 1;
  }
  bool takes_blocked(std::string_view op, size_t input) const override {
    if (op == "Conv2d") return input == 0 || input == 3;  // x and the residual, not the weights
    return (op == "MaxPool2d" || op == "AvgPool2d" || op == "BatchNorm2d") && input == 0;
  }
  bool makes_blocked(std::string_view op) const override { return op == "Conv2d" || keeps_layout(op); }
  bool keeps_layout(std::string_view op) const override {
    return op == "MaxPool2d" || op == "AvgPool2d" || op == "BatchNorm2d";
  }
  // oneDNN's sum post-op adds what the output buffer holds.
  int writes_over_input(std::string_view op) const override { return op == "Conv2d" ? 3 : -1; }
  int default_threads() const override { return omp_get_num_procs(); }
};

}  // namespace

void register_kernel(const std::string& op, KernelFactory factory, StoredPacking packs_stored) {
  storage()[op] = {std::move(factory), std::move(packs_stored)};
}

}  // namespace heed::cpu

namespace heed {
const Backend& cpu_backend() {
  static const cpu::CpuBackend backend;
  return backend;
}
}  // namespace heed
