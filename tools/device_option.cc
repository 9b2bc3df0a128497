// --device cpu|cuda, shared by the subcommands that load a model.
#include <map>

#include "tools/commands.h"

namespace heed::tools {

void add_device_option(CLI::App* cmd, Device* device) {
  static const std::map<std::string, Device> devices = {{"cpu", Device::cpu}, {"cuda", Device::cuda}};
  cmd->add_option("--device", *device, "where to run: cpu (default) or cuda (needs a build with the CUDA backend and a GPU)")
      ->transform(CLI::CheckedTransformer(devices, CLI::ignore_case));
}

}  // namespace heed::tools
