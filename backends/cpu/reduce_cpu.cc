// ReduceSum / ReduceMean / ReduceMax on oneDNN reduction: the output is described
// with the reduced dims kept as 1 (keepdims only changes the logical shape).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

void register_reduce_kernels() {
  for (std::string op : {"ReduceSum", "ReduceMean", "ReduceMax"})
    register_kernel(op, [op](const KernelInit& init) {
      auto alg = op == "ReduceSum"    ? dnnl::algorithm::reduction_sum
                 : op == "ReduceMean" ? dnnl::algorithm::reduction_mean
                                      : dnnl::algorithm::reduction_max;
      std::vector<int64_t> axes = init.node.attr_ints("axes");
      return kernel([alg, axes](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape& x = s.in[0].shape;
        Shape kept = x;
        for (int i = 0; i < x.rank(); ++i) kept[i] = axes.empty() ? 1 : x[i];
        for (int64_t a : axes) kept[int(a < 0 ? a + x.rank() : a)] = 1;
        if (x.numel() == 0 || kept == x) {  // nothing to reduce: copy (or an empty input)
          size_t bytes = s.out[0].nbytes();
          return invocation([bytes](const Buffers& io) { std::memcpy(io.out(0), io.in(0), bytes); });
        }
        auto src = plain_desc(DType::f32, x), dst = plain_desc(DType::f32, kept);
        dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(alg, src, dst, 0.f, 0.f), scratchpad_attr(),
                                           cpu_engine());
        auto inv = dnnl_invocation<dnnl::reduction>(pd);
        inv->bind_input(DNNL_ARG_SRC, src, 0);
        inv->bind_output(DNNL_ARG_DST, dst, 0);
        return inv;
      });
    });
}

}  // namespace heed::cpu
