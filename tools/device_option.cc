// --device cpu|cuda, shared by the subcommands that load a model.
#include "tools/commands.h"

namespace heed::tools {

void add_device_option(CLI::App* cmd, Device* device) {
  cmd->add_option_function<std::string>(
         "--device", [device](const std::string& name) { *device = name == "cuda" ? Device::cuda : Device::cpu; },
         "where to run: cpu (default) or cuda (needs a build with the CUDA backend and a GPU)")
      ->transform(CLI::IsMember({"cpu", "cuda"}, CLI::ignore_case).description(""))
      ->type_name("cpu|cuda");
}

}  // namespace heed::tools
