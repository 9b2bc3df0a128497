// Conv2d on oneDNN convolution (bias, residual add as a sum post-op, ReLU as an
// eltwise post-op), and BatchNorm2d when it could not be folded into a conv.
// With LoadOptions::precision bf16 a conv with constant weights multiplies in
// bf16 (weights rounded once per prepared shape, the input rounded by each run
// into the layout oneDNN's bf16 kernel wants) and accumulates and writes fp32;
// int8 is conv_int8_cpu.h's.
#include <cstring>

#include <fmt/format.h>

#include "backends/cpu/conv_int8_cpu.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection_lowp.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

using namespace ops::conv2d;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct ConvConfig {
  ConvGeometry g;
  const Tensor* weight;  // constant weights are reordered once per prepared shape
  bool bf16;             // precision bf16 (constant weights only)
  dt weight_type = dt::f32;  // bf16: `weight` is the stored form (engine/stored_weight.h)
};

memory::desc weight_desc(const Shape& w, int64_t groups, tag t, dt type = dt::f32) {
  if (groups == 1) return memory::desc({w[0], w[1], w[2], w[3]}, type, t);
  return memory::desc({groups, w[0] / groups, w[1], w[2], w[3]}, type, t);
}

// Runs the convolution; when the plan wants a dense output from a blocked input
// (the edge of a conv stack), the primitive still writes its fast blocked layout
// into a scratch buffer, reordered to dense afterwards (oneDNN's blocked-to-dense
// convolutions are reference code: 1.2 s instead of 2 ms for a ResNet-50 1x1).
class ConvInvocation final : public Invocation {
 public:
  ConvInvocation(const ConvConfig& cfg, const NodeShapes& s) : stream_(cpu_engine()) {
    const Shape &w = s.in[kWeight].shape;
    bool bias = s.in.size() > kBias && s.in[kBias].present;
    residual_ = s.in.size() > kResidual && s.in[kResidual].present;
    memory::desc src = layout_desc(s.in[kX]), out = layout_desc(s.out[0]);
    TensorDesc prim_out = s.out[0];
    if (s.in[kX].channel_block && !prim_out.channel_block) prim_out.channel_block = s.in[kX].channel_block;
    memory::desc dst = layout_desc(prim_out);
    memory::desc wany = weight_desc(w, cfg.g.groups, tag::any, cfg.bf16 ? dt::bf16 : dt::f32);
    memory::desc prim_src = cfg.bf16 ? memory::desc(src.dims(), dt::bf16, tag::any) : src;
    memory::desc bias_md = bias ? memory::desc({w[0]}, dt::f32, tag::a) : memory::desc();
    dnnl::primitive_attr attr = scratchpad_attr();
    dnnl::post_ops ops;
    if (residual_) ops.append_sum(1.f);
    if (cfg.g.relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                        prim_src, wany, bias_md, dst, {cfg.g.sh, cfg.g.sw}, {cfg.g.dh - 1, cfg.g.dw - 1},
                                        {cfg.g.ph, cfg.g.pw}, {cfg.g.ph, cfg.g.pw}),
        attr, cpu_engine());
    if (cfg.bf16 && std::string(pd.impl_info_str()).starts_with("ref"))
      throw Error(fmt::format("precision bf16: oneDNN has only its reference kernel for this convolution ({}); use f32",
                              pd.impl_info_str()));
    inv_ = dnnl_invocation<dnnl::convolution_forward>(pd);
    inv_->bind_input(DNNL_ARG_SRC, pd.src_desc(), kX);
    if (cfg.bf16) {  // each run rounds x into this buffer, in the layout the kernel chose
      rounded_.resize(pd.src_desc().get_size() / sizeof(uint16_t));
      to_bf16_ = Reorder(src, pd.src_desc());
    }
    memory::desc wplain = weight_desc(w, cfg.g.groups, cfg.g.groups == 1 ? tag::oihw : tag::goihw);
    if (pd.weights_desc() == wplain) {
      inv_->bind_input(DNNL_ARG_WEIGHTS, wplain, kWeight);
    } else if (cfg.weight) {
      weights_ = memory(pd.weights_desc(), cpu_engine());
      memory plain(weight_desc(w, cfg.g.groups, cfg.g.groups == 1 ? tag::oihw : tag::goihw, cfg.weight_type),
                   cpu_engine(), const_cast<void*>(cfg.weight->data()));
      dnnl::reorder(plain, weights_).execute(stream_, plain, weights_);
      stream_.wait();
      inv_->bind_fixed(DNNL_ARG_WEIGHTS, weights_);
    } else {
      throw Error("Conv2d: computed (non-constant) weights in a blocked layout are not supported");
    }
    if (bias) inv_->bind_input(DNNL_ARG_BIAS, bias_md, kBias);
    inv_->bind_output(DNNL_ARG_DST, dst, 0);
    if (dst != out) {
      scratch_.resize(prim_out.nbytes() / sizeof(float));
      to_out_ = Reorder(dst, out);
    }
    if (residual_) {
      memory::desc rmd = layout_desc(s.in[kResidual]);
      if (rmd == dst) residual_bytes_ = prim_out.nbytes();
      else residual_in_ = Reorder(rmd, dst);
    }
  }

  void run(const Buffers& io) override {
    void* dst = scratch_.empty() ? io.out(0) : static_cast<void*>(scratch_.data());
    // The sum post-op adds what dst holds: put the residual there first.
    if (residual_ && dst != io.in(kResidual)) {
      if (residual_bytes_) std::memcpy(dst, io.in(kResidual), residual_bytes_);
      else residual_in_.run(stream_, io.in(kResidual), dst);
    }
    for (size_t i = 0; i < 4; ++i) values_[i] = const_cast<void*>(io.in(i));
    if (!rounded_.empty()) {
      to_bf16_.run(stream_, io.in(kX), rounded_.data());
      values_[kX] = rounded_.data();
    }
    values_[4] = dst;
    inv_->run({values_, ids_, ids_ + 4, 4});
    if (!scratch_.empty()) to_out_.run(stream_, dst, io.out(0));
  }

 private:
  dnnl::stream stream_;
  std::unique_ptr<DnnlInvocation> inv_;
  memory weights_;
  bool residual_ = false;
  size_t residual_bytes_ = 0;
  Reorder residual_in_, to_out_, to_bf16_;
  std::vector<float> scratch_;
  std::vector<uint16_t> rounded_;  // bf16: x rounded
  void* values_[5] = {};
  const int ids_[5] = {0, 1, 2, 3, 4};
};

}  // namespace

void register_conv_kernels() {
  register_kernel("Conv2d", [](const KernelInit& init) {
    const ir::Node& n = init.node;
    auto [sh, sw] = ops::hw_pair(n.attr_ints("stride"));
    auto [ph, pw] = ops::hw_pair(n.attr_ints("padding"));
    auto [dh, dw] = ops::hw_pair(n.attr_ints("dilation"));
    const ConvGeometry g{sh, sw, ph, pw, dh, dw, n.attr_int("groups"), n.attr_string("activation") == "relu"};
    const bool bf16 = init.precision == Precision::bf16 && init.constants[kWeight];
    const bool int8 = init.precision == Precision::int8 && init.constants[kWeight];
    if (bf16)  // refused at load, as the projections are, where oneDNN has no fast kernel
      if (std::string why = precision_unavailable(init.precision); !why.empty()) throw Error(why);
    const StoredWeight* stored = init.stored.size() > kWeight ? init.stored[kWeight] : nullptr;
    if (stored && stored->precision != init.precision) stored = nullptr;
    if (int8) {
      // 7-bit weights (no VNNI) are made from the values a stored 8-bit weight stands for.
      const int levels = int8_conv_levels();
      auto weight = std::make_shared<const Int8ConvWeight>(*init.constants[kWeight], levels == 127 ? stored : nullptr,
                                                           levels);
      // With calibrated ranges it reads x and the residual stored quantized, and
      // writes so when its residual (if any) is: the sum post-op adds it in dst's type.
      return quantized_kernel([g, weight](const NodeShapes& s) { return int8_conv_invocation(g, weight, s); },
                              Precision::int8, {int(kWeight)}, QuantizedIO{{int(kX), int(kResidual)}, int(kResidual)});
    }
    if (!bf16) stored = nullptr;  // fp32: the weight's f32 values
    ConvConfig cfg{g, stored ? &stored->values : init.constants[kWeight], bf16, stored ? dt::bf16 : dt::f32};
    return kernel([cfg](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      return std::make_unique<ConvInvocation>(cfg, s);
    }, bf16 ? Precision::bf16 : Precision::f32,
                  stored ? std::vector<int>{int(kWeight)} : std::vector<int>{});
  }, [](const KernelInit& init, size_t input) {  // int8: channels along axis 0, as Int8ConvWeight takes them
    const StoredWeight* stored = input == kWeight ? init.stored[input] : nullptr;
    if (!stored || stored->precision != init.precision) return false;
    return init.precision == Precision::bf16 || (stored->axis == 0 && int8_conv_levels() == 127);
  });

  register_kernel("BatchNorm2d", [](const KernelInit& init) {
    float eps = float(init.node.attr_float("epsilon"));
    return kernel([eps](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      auto md = layout_desc(s.in[0]), out = layout_desc(s.out[0]);
      auto c = memory::desc({s.in[0].shape[1]}, dt::f32, tag::a);
      auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                   dnnl::normalization_flags::use_shift;
      dnnl::batch_normalization_forward::primitive_desc pd(
          dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, md, eps, flags),
          scratchpad_attr(), cpu_engine());
      auto inv = dnnl_invocation<dnnl::batch_normalization_forward>(pd);
      inv->bind_input(DNNL_ARG_SRC, md, 0);
      inv->bind_input(DNNL_ARG_SCALE, c, 1);
      inv->bind_input(DNNL_ARG_SHIFT, c, 2);
      inv->bind_input(DNNL_ARG_MEAN, c, 3);
      inv->bind_input(DNNL_ARG_VARIANCE, c, 4);
      inv->bind_output(DNNL_ARG_DST, out, 0);
      return inv;
    });
  });
}

}  // namespace heed::cpu
