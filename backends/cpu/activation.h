#pragma once
// Maps heed activation names onto oneDNN eltwise algorithms (post-ops and the
// unary element-wise kernels share it).
#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "backends/cpu/activation_math.h"

namespace heed::cpu {

struct EltwiseSpec {
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
};

// "relu", "gelu" (erf form, PyTorch's default), "gelu_tanh", "silu", "tanh",
// "sigmoid", "exp", "log", "sqrt", "neg". Throws on anything else.
EltwiseSpec eltwise_for(const std::string& name);
// Linear's fused activations (not none).
EltwiseSpec eltwise_for(Activation act);

}  // namespace heed::cpu
