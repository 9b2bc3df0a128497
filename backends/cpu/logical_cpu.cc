// Comparisons, logic, Where, Expand, and the unary loops oneDNN has no exact
// form of (Erf, Abs, IsNaN, Not). Plain broadcast loops: these build masks and
// run once per batch, not per layer.
#include <cmath>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/cpu_backend.h"

namespace heed::cpu {
namespace {

template <typename T, typename F>
auto with_comparison(const std::string& op, F&& f) {
  if (op == "Equal") return f([](T x, T y) -> uint8_t { return x == y; });
  if (op == "Less") return f([](T x, T y) -> uint8_t { return x < y; });
  if (op == "Greater") return f([](T x, T y) -> uint8_t { return x > y; });
  if (op == "LessOrEqual") return f([](T x, T y) -> uint8_t { return x <= y; });
  return f([](T x, T y) -> uint8_t { return x >= y; });
}

template <typename F>
auto with_logic(const std::string& op, F&& f) {
  if (op == "And") return f([](uint8_t x, uint8_t y) -> uint8_t { return x && y; });
  if (op == "Or") return f([](uint8_t x, uint8_t y) -> uint8_t { return x || y; });
  return f([](uint8_t x, uint8_t y) -> uint8_t { return bool(x) != bool(y); });
}

std::unique_ptr<Invocation> comparison(const std::string& op, const NodeShapes& s) {
  return dispatch_dtype(s.in[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    return with_comparison<T>(op, [&](auto f) {
      return invocation([s, f](const Buffers& io) {
        broadcast_binary(io.in_as<T>(0), s.in[0].shape, io.in_as<T>(1), s.in[1].shape, io.out_as<uint8_t>(0),
                         s.out[0].shape, f);
      });
    });
  });
}

std::unique_ptr<Invocation> logic(const std::string& op, const NodeShapes& s) {
  return with_logic(op, [&](auto f) {
    return invocation([s, f](const Buffers& io) {
      broadcast_binary(io.in_as<uint8_t>(0), s.in[0].shape, io.in_as<uint8_t>(1), s.in[1].shape,
                       io.out_as<uint8_t>(0), s.out[0].shape, f);
    });
  });
}

// y[i] = f(x[i]) over the whole tensor.
template <typename In, typename Out, typename F>
void register_unary(const std::string& op, F f) {
  register_kernel(op, [f](const KernelInit&) {
    return kernel([f](const NodeShapes& s) {
      const int64_t n = s.out[0].shape.numel();
      return invocation([n, f](const Buffers& io) {
        const In* x = io.in_as<In>(0);
        Out* y = io.out_as<Out>(0);
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
      });
    });
  });
}

}  // namespace

void register_logical_kernels() {
  for (std::string op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    register_kernel(op, [op](const KernelInit&) { return kernel([op](const NodeShapes& s) { return comparison(op, s); }); });
  for (std::string op : {"And", "Or", "Xor"})
    register_kernel(op, [op](const KernelInit&) { return kernel([op](const NodeShapes& s) { return logic(op, s); }); });
  register_unary<uint8_t, uint8_t>("Not", [](uint8_t x) -> uint8_t { return !x; });
  register_unary<float, uint8_t>("IsNaN", [](float x) -> uint8_t { return x != x; });
  register_unary<float, float>("Erf", [](float x) { return std::erf(x); });
  register_unary<float, float>("Abs", [](float x) { return std::fabs(x); });
  register_kernel("Where", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      return dispatch_dtype(s.out[0].dtype, [&](auto zero) {
        using T = decltype(zero);
        return invocation([s](const Buffers& io) {
          broadcast_ternary(io.in_as<uint8_t>(0), s.in[0].shape, io.in_as<T>(1), s.in[1].shape, io.in_as<T>(2),
                            s.in[2].shape, io.out_as<T>(0), s.out[0].shape,
                            [](uint8_t c, T x, T y) { return c ? x : y; });
        });
      });
    });
  });
  register_kernel("Expand", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      return dispatch_dtype(s.out[0].dtype, [&](auto zero) {
        using T = decltype(zero);
        return invocation([s](const Buffers& io) {
          broadcast_binary(io.in_as<T>(0), s.in[0].shape, io.in_as<T>(0), s.in[0].shape, io.out_as<T>(0),
                           s.out[0].shape, [](T x, T) { return x; });
        });
      });
    });
  });
}

}  // namespace heed::cpu
