// --device cpu|cuda, --gemm-dtype and --precision, shared by the subcommands that load a model.
#include "tools/commands.h"

namespace heed::tools {

void add_device_option(CLI::App* cmd, Device* device) {
  cmd->add_option_function<std::string>(
         "--device", [device](const std::string& name) { *device = name == "cuda" ? Device::cuda : Device::cpu; },
         "where to run: cpu (default) or cuda (needs a build with the CUDA backend and a GPU)")
      ->transform(CLI::IsMember({"cpu", "cuda"}, CLI::ignore_case).description(""))
      ->type_name("cpu|cuda");
}

void add_gemm_dtype_option(CLI::App* cmd, DType* dtype) {
  cmd->add_option_function<std::string>(
         "--gemm-dtype", [dtype](const std::string& name) { *dtype = dtype_from_name(name); },
         "Linear/MatMul precision: f32 (default), or f16/bf16 on tensor cores with fp32 accumulation (--device cuda)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}).description(""))
      ->type_name("f32|f16|bf16");
}

void add_precision_option(CLI::App* cmd, std::optional<Precision>* precision) {
  cmd->add_option_function<std::string>(
         "--precision", [precision](const std::string& name) { *precision = precision_from_name(name); },
         "GEMM arithmetic (default: as the model stores its weights, `heed quantize`; else f32): f32; bf16 (bf16 weights and inputs, fp32 accumulation); int8 (weights per "
         "channel, inputs per row, int32 accumulation; CPU only). Softmax, norms and attention scores stay f32")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}).description(""))
      ->type_name("f32|bf16|int8");
}

}  // namespace heed::tools
