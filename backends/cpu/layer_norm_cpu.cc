// LayerNorm on oneDNN layer_normalization, viewed as [rows, normalized size].
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

void register_layer_norm_kernels() {
  register_kernel("LayerNorm", [](const KernelInit& init) {
    int64_t axis_attr = init.node.attr_int("axis");
    float eps = float(init.node.attr_float("epsilon"));
    return kernel([axis_attr, eps](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Shape& x = s.in[0].shape;
      if (x.numel() == 0) return invocation([](const Buffers&) {});
      int axis = int(axis_attr < 0 ? axis_attr + x.rank() : axis_attr);
      int64_t d = 1;
      for (int i = axis; i < x.rank(); ++i) d *= x[i];
      bool scale = s.in.size() > 1 && s.in[1].present, shift = s.in.size() > 2 && s.in[2].present;
      auto flags = dnnl::normalization_flags::none;
      if (scale) flags |= dnnl::normalization_flags::use_scale;
      if (shift) flags |= dnnl::normalization_flags::use_shift;
      auto md = plain_desc(DType::f32, Shape{x.numel() / d, d});
      auto param = plain_desc(DType::f32, Shape{d});
      dnnl::layer_normalization_forward::primitive_desc pd(
          dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, md, eps, flags),
          scratchpad_attr(), cpu_engine());
      auto inv = dnnl_invocation<dnnl::layer_normalization_forward>(pd);
      inv->bind_input(DNNL_ARG_SRC, md, 0);
      if (scale) inv->bind_input(DNNL_ARG_SCALE, param, 1);
      if (shift) inv->bind_input(DNNL_ARG_SHIFT, param, 2);
      inv->bind_output(DNNL_ARG_DST, md, 0);
      return inv;
    });
  });
}

}  // namespace heed::cpu
