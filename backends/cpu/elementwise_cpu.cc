// Element-wise ops. Binary: oneDNN binary when the first operand already has the
// output's shape (oneDNN broadcasts only its second operand), else the OpenMP
// broadcast loop. Unary: oneDNN eltwise.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "backends/cpu/activation.h"
#include "backends/cpu/broadcast.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"

namespace heed::cpu {
namespace {

// Calls f(op) with `op` a stateless functor for the named binary op, so that
// each op's loop is its own instantiation (and vectorizes).
template <typename T, typename F>
auto with_binary_op(const std::string& op, F&& f) {
  if (op == "Add") return f([](T x, T y) { return T(x + y); });
  if (op == "Sub") return f([](T x, T y) { return T(x - y); });
  if (op == "Mul") return f([](T x, T y) { return T(x * y); });
  if (op == "Div") return f([](T x, T y) { return T(x / y); });
  // A NaN operand gives NaN, as torch.maximum/minimum (std::max would drop it).
  if (op == "Maximum") return f([](T x, T y) { return x != x ? x : y != y ? y : std::max(x, y); });
  if (op == "Minimum") return f([](T x, T y) { return x != x ? x : y != y ? y : std::min(x, y); });
  return f([](T x, T y) { return T(std::pow(x, y)); });
}

std::unique_ptr<Invocation> dnnl_binary(const std::string& op, const NodeShapes& s) {
  static const std::map<std::string, dnnl::algorithm> algs = {
      {"Add", dnnl::algorithm::binary_add}, {"Sub", dnnl::algorithm::binary_sub},
      {"Mul", dnnl::algorithm::binary_mul}, {"Div", dnnl::algorithm::binary_div}};  // max/min: the loop, for NaN
  auto alg = algs.find(op);
  if (alg == algs.end() || s.out[0].dtype != DType::f32 || !(s.in[0].shape == s.out[0].shape) ||
      s.out[0].shape.numel() == 0)
    return nullptr;
  // oneDNN wants both operands at the output's rank.
  Shape b;
  for (int i = s.in[1].shape.rank(); i < s.out[0].shape.rank(); ++i) b.push_back(1);
  for (int64_t d : s.in[1].shape) b.push_back(d);
  auto md0 = plain_desc(DType::f32, s.in[0].shape), md1 = plain_desc(DType::f32, b);
  try {
    dnnl::binary::primitive_desc pd(dnnl::binary::desc(alg->second, md0, md1, md0), scratchpad_attr(),
                                    cpu_engine());
    if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return nullptr;
    auto inv = dnnl_invocation<dnnl::binary>(pd);
    inv->bind_input(DNNL_ARG_SRC_0, md0, 0);
    inv->bind_input(DNNL_ARG_SRC_1, md1, 1);
    inv->bind_output(DNNL_ARG_DST, md0, 0);
    return inv;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

std::unique_ptr<Invocation> loop_binary(const std::string& op, const NodeShapes& s) {
  return dispatch_dtype(s.out[0].dtype, [&](auto zero) -> std::unique_ptr<Invocation> {
    using T = decltype(zero);
    return with_binary_op<T>(op, [&](auto f) -> std::unique_ptr<Invocation> {
      return invocation([s, f](const Buffers& io) {
        broadcast_binary(io.in_as<T>(0), s.in[0].shape, io.in_as<T>(1), s.in[1].shape, io.out_as<T>(0),
                         s.out[0].shape, f);
      });
    });
  });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

void register_elementwise_kernels() {
  for (std::string op : {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum"})
    register_kernel(op, [op](const KernelInit&) {
      return kernel([op](const NodeShapes& s) {
        // Small operands run in heed's loop on the calling thread: oneDNN's binary
        // wakes the OpenMP team for any size, which costs more than the adds.
        auto inv = s.out[0].shape.numel() > kParallelElements ? dnnl_binary(op, s) : nullptr;
        return inv ? std::move(inv) : loop_binary(op, s);
      });
    });
  // oneDNN's log is off by up to 3e-6 absolute near 1; glibc's vectorized logf is exact enough.
  register_kernel("Log", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      int64_t n = s.out[0].shape.numel();
      return invocation([n](const Buffers& io) {
        const float* x = io.in_as<float>(0);
        float* y = io.out_as<float>(0);
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
      });
    });
  });
  for (std::string op : {"Sqrt", "Exp", "Tanh", "Sigmoid", "Relu", "Gelu", "Silu", "Neg"})
    register_kernel(op, [op](const KernelInit& init) {
      std::string name = lower(op);
      if (op == "Gelu" && init.node.attr_string("approximate") == "tanh") name = "gelu_tanh";
      EltwiseSpec e = eltwise_for(name);
      // oneDNN's exp and relu turn NaN into inf and 0; PyTorch keeps NaN (one more pass restores it).
      const bool keeps_nan = op == "Exp" || op == "Relu";
      return kernel([e, keeps_nan](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        if (s.out[0].shape.numel() == 0) return invocation([](const Buffers&) {});
        auto md = plain_desc(DType::f32, s.out[0].shape);
        dnnl::eltwise_forward::primitive_desc pd(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, e.alg, md, e.alpha, e.beta),
            scratchpad_attr(), cpu_engine());
        auto inv = dnnl_invocation<dnnl::eltwise_forward>(pd);
        inv->bind_input(DNNL_ARG_SRC, md, 0);
        inv->bind_output(DNNL_ARG_DST, md, 0);
        if (!keeps_nan) return inv;
        return invocation([inv = std::shared_ptr<Invocation>(std::move(inv)), n = s.out[0].shape.numel()](const Buffers& io) {
          inv->run(io);
          const float* x = io.in_as<float>(0);
          float* y = io.out_as<float>(0);
#pragma omp parallel for simd if (n > 65536)
          for (int64_t i = 0; i < n; ++i) y[i] = x[i] != x[i] ? x[i] : y[i];
        });
      });
    });
}

}  // namespace heed::cpu
