#pragma once
// Linear's fused activations as branch-free float functions that GCC vectorizes
// in `omp simd` loops: heed's GEMM kernels apply them to each output row while
// it is still in L1. Each is written so that it loses no precision where
// PyTorch's float function does not (relative error about 1e-7, up to ~1e-6 for
// the erf form of GELU; tests/reference/gen_op_fixtures.py checks every one).
#include <cmath>
#include <string>

#include "engine/cpu_isa.h"
#include "engine/fast_math.h"

namespace heed::cpu {

enum class Activation { none, relu, gelu, gelu_tanh, silu, tanh, sigmoid };

// Linear's "activation" attribute; throws on a name Linear does not accept.
Activation activation_named(const std::string& name);

inline float sigmoid_f(float x) { return 1.f / (1.f + exp_approx(-x)); }

// Cephes' tanhf: an odd polynomial below 0.625, where 1 - 2 / (e^2x + 1) would
// cancel; the exponential form above.
inline float tanh_f(float x) {
  const float a = std::fabs(x), s = x * x;
  const float small =
      ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s + 1.33314422036e-1f) * s -
       3.33332819422e-1f) * s * x + x;
  const float large = std::copysign(1.f - 2.f / (exp_approx(2.f * a) + 1.f), x);
  return a < 0.625f ? small : large;
}

// erfc with a relative error below about 1.2e-7 (Numerical Recipes' erfcc, a
// Chebyshev fit of erfc(z) e^(z^2) for z >= 0; erfc(-z) = 2 - erfc(z)).
inline float erfc_f(float x) {
  const float z = std::fabs(x), t = 1.f / (1.f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  const float r = t * exp_approx(p * t - z * z - 1.26551223f);
  return x >= 0.f ? r : 2.f - r;
}

// GELU, PyTorch's default (erf) form: x Phi(x) = x erfc(-x / sqrt 2) / 2, which
// keeps its precision where 1 + erf(x / sqrt 2) would cancel (x << 0).
inline float gelu_f(float x) { return 0.5f * x * erfc_f(-0.70710678118654752f * x); }

// GELU, tanh form: x (1 + tanh u) / 2 = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
inline float gelu_tanh_f(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return x / (1.f + exp_approx(-2.f * u));
}

template <Activation A>
inline float activate(float x) {
  if constexpr (A == Activation::relu) return x <= 0.f ? 0.f : x;  // NaN stays NaN, as in PyTorch
  else if constexpr (A == Activation::gelu) return gelu_f(x);
  else if constexpr (A == Activation::gelu_tanh) return gelu_tanh_f(x);
  else if constexpr (A == Activation::silu) return x * sigmoid_f(x);
  else if constexpr (A == Activation::tanh) return tanh_f(x);
  else if constexpr (A == Activation::sigmoid) return sigmoid_f(x);
  else return x;
}

template <Activation A>
HEED_INLINE void activate_row(float* p, long n) {
#pragma omp simd
  for (long j = 0; j < n; ++j) p[j] = activate<A>(p[j]);
}

// p[0, n) = act(p[0, n)). Inlined, so that it is vectorized for the ISA of the
// kernel that calls it (HEED_AVX512 or the AVX2 baseline).
HEED_INLINE void apply_activation(Activation act, float* p, long n) {
  switch (act) {
    case Activation::none: break;
    case Activation::relu: activate_row<Activation::relu>(p, n); break;
    case Activation::gelu: activate_row<Activation::gelu>(p, n); break;
    case Activation::gelu_tanh: activate_row<Activation::gelu_tanh>(p, n); break;
    case Activation::silu: activate_row<Activation::silu>(p, n); break;
    case Activation::tanh: activate_row<Activation::tanh>(p, n); break;
    case Activation::sigmoid: activate_row<Activation::sigmoid>(p, n); break;
  }
}

}  // namespace heed::cpu
