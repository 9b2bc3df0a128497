// Linear. A constant weight is a ProjectionWeight (projection.h: heed's panel
// kernel on AVX-512; oneDNN, and AVX2 panels for a wide weight, on AVX2),
// prepared once at load and shared by every session. A weight given as an input
// runs on oneDNN matmul in its layout ([out, in], or [in, out]), read where it is.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection.h"

namespace heed::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

class LinearKernel final : public Kernel {
 public:
  explicit LinearKernel(const KernelInit& init)
      : activation_(activation_named(init.node.attr_string("activation"))),
        in_out_(init.node.attr_string("weight_layout") == "in_out") {
    if (!init.constants[1] || init.constants[1]->dtype() != DType::f32) return;
    const Tensor& weight = *init.constants[1];
    if (weight.numel() == 0) return;  // nothing to pack (see no_input_features)
    weight_ = std::make_shared<const ProjectionWeight>(weight.data_as<float>(), weight.shape()[in_out_ ? 1 : 0],
                                                       weight.shape()[in_out_ ? 0 : 1], activation_, nullptr,
                                                       layout(), init.precision, stored_part(init, 1, layout()));
  }

  WeightLayout layout() const { return in_out_ ? WeightLayout::in_out : WeightLayout::out_in; }
  bool reads_constant(size_t input) const override { return input != 1 || !weight_ || weight_->reads_source(); }
  Precision precision() const override { return weight_ ? weight_->precision() : Precision::f32; }

  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    // The session never prepares a node with an empty output, so n > 0 here.
    const Shape& w = s.in[1].shape;
    const int64_t n = w[in_out_ ? 1 : 0], k = w[in_out_ ? 0 : 1], m = s.out[0].shape.numel() / n;
    const bool bias = s.in.size() > 2 && s.in[2].present;
    if (k == 0) return no_input_features(m, n, bias);
    if (weight_) {
      Projection projection(weight_, m, bias);
      const size_t workspace = projection.workspace_bytes();
      return invocation(
          [projection = std::move(projection), bias](const Buffers& io) mutable {
            projection.run(io.in_as<float>(0), io.out_as<float>(0), bias ? io.in_as<float>(2) : nullptr, io.workspace);
          },
          workspace);
    }
    const memory::desc weights({k, n}, memory::data_type::f32, in_out_ ? tag::ab : tag::ba);  // [in, out] | [out, in]
    auto inv = dnnl_invocation<dnnl::matmul>(linear_matmul_desc(m, k, n, weights, bias, activation_));
    inv->bind_input(DNNL_ARG_SRC, memory::desc({m, k}, memory::data_type::f32, tag::ab), 0);
    inv->bind_input(DNNL_ARG_WEIGHTS, weights, 1);
    if (bias) inv->bind_input(DNNL_ARG_BIAS, memory::desc({1, n}, memory::data_type::f32, tag::ab), 2);
    inv->bind_output(DNNL_ARG_DST, memory::desc({m, n}, memory::data_type::f32, tag::ab), 0);
    return inv;
  }

 private:
  // Zero input features (PyTorch allows them): every row is act(bias), or act(0).
  std::unique_ptr<Invocation> no_input_features(int64_t m, int64_t n, bool bias) const {
    return invocation([m, n, bias, act = activation_](const Buffers& io) {
      float* y = io.out_as<float>(0);
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) y[r * n + j] = bias ? io.in_as<float>(2)[j] : 0.f;
        apply_activation(act, y + r * n, long(n));
      }
    });
  }

  Activation activation_;
  bool in_out_;  // weight_layout in_out: the weight is [in, out]
  std::shared_ptr<const ProjectionWeight> weight_;  // a constant weight's
};

}  // namespace

void register_linear_kernels() {
  register_kernel(
      "Linear", [](const KernelInit& init) { return std::make_unique<LinearKernel>(init); },
      [](const KernelInit& init, size_t input) {
        const bool in_out = init.node.attr_string("weight_layout") == "in_out";
        return input == 1 && stored_part(init, 1, in_out ? WeightLayout::in_out : WeightLayout::out_in).has_value();
      });
}

}  // namespace heed::cpu
