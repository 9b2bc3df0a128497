// ConvTranspose2d on oneDNN's deconvolution, plain NCHW in and out. PyTorch's
// weight [C, O / groups, kh, kw] is oneDNN's iohw (giohw with groups) layout;
// output_padding adds rows and columns at the end: a right padding of
// padding - output_padding (negative: rows past the last one any input reaches).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Config {
  int64_t sh, sw, ph, pw, oh, ow, dh, dw, groups;
};

std::unique_ptr<Invocation> deconvolution(const Config& cfg, const NodeShapes& s) {
  const Shape &x = s.in[0].shape, &w = s.in[1].shape, &y = s.out[0].shape;
  const bool bias = s.in.size() > 2 && s.in[2].present;
  memory::desc src({x[0], x[1], x[2], x[3]}, dt::f32, tag::nchw), dst({y[0], y[1], y[2], y[3]}, dt::f32, tag::nchw);
  memory::desc weights = cfg.groups == 1
                             ? memory::desc({w[1], w[0], w[2], w[3]}, dt::f32, tag::iohw)
                             : memory::desc({cfg.groups, w[1], w[0] / cfg.groups, w[2], w[3]}, dt::f32, tag::giohw);
  memory::desc bias_md = bias ? memory::desc({y[1]}, dt::f32, tag::a) : memory::desc();
  dnnl::deconvolution_forward::primitive_desc pd(
      dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                        src, weights, bias_md, dst, {cfg.sh, cfg.sw}, {cfg.dh - 1, cfg.dw - 1},
                                        {cfg.ph, cfg.pw}, {cfg.ph - cfg.oh, cfg.pw - cfg.ow}),
      scratchpad_attr(), cpu_engine());
  auto inv = dnnl_invocation<dnnl::deconvolution_forward>(pd);
  inv->bind_input(DNNL_ARG_SRC, src, 0);
  inv->bind_input(DNNL_ARG_WEIGHTS, weights, 1);
  if (bias) inv->bind_input(DNNL_ARG_BIAS, bias_md, 2);
  inv->bind_output(DNNL_ARG_DST, dst, 0);
  return inv;
}

}  // namespace

void register_conv_transpose_kernels() {
  register_kernel("ConvTranspose2d", [](const KernelInit& init) {
    const ir::Node& n = init.node;
    auto [sh, sw] = ops::hw_pair(n.attr_ints("stride"));
    auto [ph, pw] = ops::hw_pair(n.attr_ints("padding"));
    auto [oh, ow] = ops::hw_pair(n.attr_ints("output_padding"));
    auto [dh, dw] = ops::hw_pair(n.attr_ints("dilation"));
    Config cfg{sh, sw, ph, pw, oh, ow, dh, dw, n.attr_int("groups")};
    return kernel([cfg](const NodeShapes& s) { return deconvolution(cfg, s); });
  });
}

}  // namespace heed::cpu
