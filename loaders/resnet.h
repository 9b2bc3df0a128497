#pragma once
// A torchvision ResNet's convolutional trunk (conv1, bn1, relu, maxpool, then
// layer1 .. layer`stages`), built as graph nodes over the checkpoint's own
// weights; BatchNorm folds into the convolutions at load. Shared by the
// captioning and VQA importers.
#include <functional>
#include <string>

#include "loaders/graph_builder.h"

namespace heed {

struct ResNetSpec {
  int depth = 101;   // 18, 34, 50, 101 or 152
  int stages = 4;    // layer1 .. layer`stages`
  // torchvision's name ("layer1.0.conv1.weight") -> the name stored in the checkpoint.
  std::function<std::string(const std::string&)> weight_name;
};

// Throws for an unsupported depth or stage count; `where` names the config.
void check_resnet(const ResNetSpec& spec, const std::string& where);
// Channels of the trunk's output.
int64_t resnet_channels(const ResNetSpec& spec);
// The trunk on `image` [N, 3, H, W]; returns the value of its output [N, C, H/s, W/s].
std::string add_resnet_trunk(GraphBuilder& b, const ResNetSpec& spec, const std::string& image);

}  // namespace heed
