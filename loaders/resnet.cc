#include "loaders/resnet.h"

#include <heed/error.h>

#include <array>

#include <fmt/format.h>

namespace heed {
namespace {

using Ints = std::vector<int64_t>;

std::array<int, 4> blocks_per_layer(int depth) {
  switch (depth) {
    case 18: return {2, 2, 2, 2};
    case 34: case 50: return {3, 4, 6, 3};
    case 101: return {3, 4, 23, 3};
    case 152: return {3, 8, 36, 3};
    default: return {0, 0, 0, 0};
  }
}

struct Trunk {
  GraphBuilder& b;
  const ResNetSpec& spec;

  std::string w(const std::string& name) { return b.param(spec.weight_name(name)); }

  // conv (no bias) + BatchNorm2d, as torchvision's blocks; node names are the stored names.
  std::string conv_bn(const std::string& conv, const std::string& bn, const std::string& x, int64_t stride, int64_t pad) {
    std::string c = b.node(spec.weight_name(conv), "Conv2d", {x, w(conv + ".weight")},
                           {{"stride", Ints{stride}}, {"padding", Ints{pad}}});
    return b.node(spec.weight_name(bn), "BatchNorm2d",
                  {c, w(bn + ".weight"), w(bn + ".bias"), w(bn + ".running_mean"), w(bn + ".running_var")});
  }

  std::string relu(const std::string& x) { return b.node(x + ".relu", "Relu", {x}); }

  // torchvision's BasicBlock (ResNet-18/34) or Bottleneck (stride on the 3x3, "v1.5").
  std::string block(const std::string& p, const std::string& x, int64_t stride, bool downsample) {
    std::string h;
    if (spec.depth < 50) {
      h = conv_bn(p + "conv2", p + "bn2", relu(conv_bn(p + "conv1", p + "bn1", x, stride, 1)), 1, 1);
    } else {
      h = relu(conv_bn(p + "conv1", p + "bn1", x, 1, 0));
      h = relu(conv_bn(p + "conv2", p + "bn2", h, stride, 1));
      h = conv_bn(p + "conv3", p + "bn3", h, 1, 0);
    }
    std::string identity = downsample ? conv_bn(p + "downsample.0", p + "downsample.1", x, stride, 0) : x;
    return relu(b.node(spec.weight_name(p + "add"), "Add", {h, identity}));
  }
};

}  // namespace

void check_resnet(const ResNetSpec& spec, const std::string& where) {
  if (blocks_per_layer(spec.depth)[0] == 0)
    throw Error(fmt::format("{}: ResNet-{} is not supported (18, 34, 50, 101 or 152)", where, spec.depth));
  if (spec.stages < 1 || spec.stages > 4) throw Error(fmt::format("{}: resnet_stages must be 1 to 4, got {}", where, spec.stages));
}

int64_t resnet_channels(const ResNetSpec& spec) { return (spec.depth < 50 ? 64 : 256) << (spec.stages - 1); }

std::string add_resnet_trunk(GraphBuilder& b, const ResNetSpec& spec, const std::string& image) {
  Trunk t{b, spec};
  std::string x = t.relu(t.conv_bn("conv1", "bn1", image, 2, 3));
  x = b.node(spec.weight_name("maxpool"), "MaxPool2d", {x}, {{"kernel_size", Ints{3}}, {"stride", Ints{2}}, {"padding", Ints{1}}});
  const auto blocks = blocks_per_layer(spec.depth);
  for (int layer = 1; layer <= spec.stages; ++layer)
    for (int i = 0; i < blocks[size_t(layer - 1)]; ++i) {
      const int64_t stride = layer > 1 && i == 0 ? 2 : 1;
      // The first block of each layer changes the width (all but ResNet-18/34's layer1): a projection.
      const bool downsample = i == 0 && (layer > 1 || spec.depth >= 50);
      x = t.block(fmt::format("layer{}.{}.", layer, i), x, stride, downsample);
    }
  return x;
}

}  // namespace heed
