// Linear on oneDNN matmul. A constant weight is reordered once, at load, into the
// blocked layout oneDNN prefers, when it prefers one (AVX-512 brgemm does; that
// layout does not depend on M, so one packed copy serves every batch size). When
// it would only be a plain transposed copy (AVX2's gemm:jit), the weight is read
// in PyTorch's own [out, in] layout straight from the file instead: measured here,
// that is 3x faster at N = 2048 than the row-major copy, whose 8 KiB row stride
// thrashes the cache. A wide weight (the vocabulary projection) also gets a
// panel-packed copy for the calls that decoding makes (panel_gemm.h): up to 128
// rows beside a plain weight, 1 to 4 rows beside oneDNN's own packed copy.
#include "backends/cpu/activation.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/panel_gemm.h"

namespace heed::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

class LinearKernel final : public Kernel {
 public:
  explicit LinearKernel(const KernelInit& init) : activation_(init.node.attr_string("activation")) {
    if (init.constants[1]) {
      const Tensor& weight = *init.constants[1];
      int64_t n = weight.shape()[0], k = weight.shape()[1];
      auto pd = primitive_desc(128, k, n, memory::desc({k, n}, memory::data_type::f32, tag::any));
      const bool panels = activation_ == "none" && weight.dtype() == DType::f32 && PanelGemm::worth_packing(n, k);
      if (panels) panels_ = std::make_shared<PanelGemm>(weight.data_as<float>(), n, k);
      if (pd.weights_desc().data.format_desc.blocking.inner_nblks == 0) return;  // plain: no oneDNN packing
      packed_md_ = pd.weights_desc();
      packed_ = memory(packed_md_, cpu_engine());
      memory src(plain_weight_md(k, n), cpu_engine(), const_cast<void*>(weight.data()));
      dnnl::stream s(cpu_engine());
      dnnl::reorder(src, packed_).execute(s, src, packed_);
      s.wait();
    }
  }

  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    int64_t n = s.in[1].shape[0], k = s.in[1].shape[1];
    int64_t m = s.in[0].shape.numel() / k;
    if (m == 0) return invocation([](const Buffers&) {});
    if (panels_ && PanelGemm::wins_for(m, bool(packed_))) {
      const bool bias = s.in.size() > 2 && s.in[2].present;
      return invocation([panels = panels_, m, bias, scratch = std::vector<float>()](const Buffers& io) mutable {
        panels->run(io.in_as<float>(0), m, bias ? io.in_as<float>(2) : nullptr, io.out_as<float>(0), scratch);
      });
    }
    bool packed = bool(packed_);
    auto pd = primitive_desc(m, k, n, packed ? packed_md_ : plain_weight_md(k, n), s.in.size() > 2 && s.in[2].present);
    auto inv = dnnl_invocation<dnnl::matmul>(pd);
    inv->bind_input(DNNL_ARG_SRC, memory::desc({m, k}, memory::data_type::f32, tag::ab), 0);
    if (packed) inv->bind_fixed(DNNL_ARG_WEIGHTS, packed_);
    else inv->bind_input(DNNL_ARG_WEIGHTS, plain_weight_md(k, n), 1);
    if (s.in.size() > 2 && s.in[2].present)
      inv->bind_input(DNNL_ARG_BIAS, memory::desc({1, n}, memory::data_type::f32, tag::ab), 2);
    inv->bind_output(DNNL_ARG_DST, memory::desc({m, n}, memory::data_type::f32, tag::ab), 0);
    return inv;
  }

 private:
  // PyTorch's [out, in] weight is the matmul's {K, N} read column-major.
  static memory::desc plain_weight_md(int64_t k, int64_t n) {
    return memory::desc({k, n}, memory::data_type::f32, tag::ba);
  }

  dnnl::matmul::primitive_desc primitive_desc(int64_t m, int64_t k, int64_t n, const memory::desc& weights,
                                              bool bias = true) const {
    dnnl::primitive_attr attr = scratchpad_attr();
    if (activation_ != "none") {
      EltwiseSpec e = eltwise_for(activation_);
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, e.alg, e.alpha, e.beta);
      attr.set_post_ops(ops);
    }
    memory::desc src({m, k}, memory::data_type::f32, tag::ab), dst({m, n}, memory::data_type::f32, tag::ab);
    memory::desc bias_md = bias ? memory::desc({1, n}, memory::data_type::f32, tag::ab) : memory::desc();
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md, dst), attr, cpu_engine());
  }

  std::string activation_;
  memory::desc packed_md_;
  memory packed_;
  std::shared_ptr<const PanelGemm> panels_;
};

}  // namespace

void register_linear_kernels() {
  register_kernel("Linear", [](const KernelInit& init) { return std::make_unique<LinearKernel>(init); });
}

}  // namespace heed::cpu
