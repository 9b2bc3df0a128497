// MaxPool2d and AvgPool2d on oneDNN pooling; AdaptiveAvgPool2d as PyTorch defines
// it (bin i covers [floor(i * H / out), ceil((i + 1) * H / out))), which any
// output size needs, e.g. Show-Attend-Tell's 7x7 -> 14x14.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "ops/conv.h"

namespace heed::cpu {
namespace {

using dnnl::memory;


}  // namespace

void register_pool_kernels() {
  for (bool max : {true, false})
    register_kernel(max ? "MaxPool2d" : "AvgPool2d", [max](const KernelInit& init) {
      const ir::Node& n = init.node;
      auto k = ops::hw_pair(n.attr_ints("kernel_size"));
      auto st = n.attr_ints("stride").empty() ? k : ops::hw_pair(n.attr_ints("stride"));
      auto p = ops::hw_pair(n.attr_ints("padding"));
      bool include_pad = n.attr_int("count_include_pad");
      return kernel([=](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape &x = s.in[0].shape, &y = s.out[0].shape;
        // Right padding that makes oneDNN produce PyTorch's (possibly ceil-mode) size.
        int64_t prh = (y[2] - 1) * st.first + k.first - x[2] - p.first;
        int64_t prw = (y[3] - 1) * st.second + k.second - x[3] - p.second;
        auto alg = max ? dnnl::algorithm::pooling_max
                       : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                     : dnnl::algorithm::pooling_avg_exclude_padding;
        auto src = layout_desc(s.in[0]), dst = layout_desc(s.out[0]);
        dnnl::pooling_forward::primitive_desc pd(
            dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, src, dst, {st.first, st.second},
                                        {k.first, k.second}, {p.first, p.second}, {std::max<int64_t>(prh, 0), std::max<int64_t>(prw, 0)}),
            scratchpad_attr(), cpu_engine());
        auto inv = dnnl_invocation<dnnl::pooling_forward>(pd);
        inv->bind_input(DNNL_ARG_SRC, src, 0);
        inv->bind_output(DNNL_ARG_DST, dst, 0);
        return inv;
      });
    });
  register_kernel("AdaptiveAvgPool2d", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const Shape &x = s.in[0].shape, &y = s.out[0].shape;
      int64_t planes = x[0] * x[1], H = x[2], W = x[3], OH = y[2], OW = y[3];
      return invocation([=](const Buffers& io) {
        const float* in = io.in_as<float>(0);
        float* out = io.out_as<float>(0);
#pragma omp parallel for if (planes * H * W > 16384)
        for (int64_t p = 0; p < planes; ++p)
          for (int64_t i = 0; i < OH; ++i) {
            int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
            for (int64_t j = 0; j < OW; ++j) {
              int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
              float sum = 0.f;
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) sum += in[(p * H + h) * W + w];
              out[(p * OH + i) * OW + j] = sum / float((h1 - h0) * (w1 - w0));
            }
          }
      });
    });
  });
}

}  // namespace heed::cpu
