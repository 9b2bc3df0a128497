#include "backends/cpu/activation.h"

#include <heed/error.h>

#include <iterator>
#include <map>

namespace heed::cpu {

EltwiseSpec eltwise_for(const std::string& name) {
  using a = dnnl::algorithm;
  static const std::map<std::string, EltwiseSpec> table = {
      {"relu", {a::eltwise_relu}},          {"gelu", {a::eltwise_gelu_erf}},
      {"gelu_tanh", {a::eltwise_gelu_tanh}}, {"silu", {a::eltwise_swish, 1.f}},
      {"tanh", {a::eltwise_tanh}},          {"sigmoid", {a::eltwise_logistic}},
      {"exp", {a::eltwise_exp}},            {"log", {a::eltwise_log}},
      {"sqrt", {a::eltwise_sqrt}},          {"neg", {a::eltwise_linear, -1.f, 0.f}}};
  auto it = table.find(name);
  if (it == table.end()) throw Error("no oneDNN eltwise for activation '" + name + "'");
  return it->second;
}

namespace {
// Linear's activation names, in Activation's order.
const char* const kActivationNames[] = {"none", "relu", "gelu", "gelu_tanh", "silu", "tanh", "sigmoid"};
}  // namespace

Activation activation_named(const std::string& name) {
  for (size_t i = 0; i < std::size(kActivationNames); ++i)
    if (name == kActivationNames[i]) return Activation(i);
  throw Error("unknown activation '" + name + "'");
}

EltwiseSpec eltwise_for(Activation act) { return eltwise_for(kActivationNames[size_t(act)]); }

}  // namespace heed::cpu
