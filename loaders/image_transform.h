#pragma once
// torchvision's image pipeline on a PIL image, reproduced exactly so that heed
// and PyTorch see the same tensor for the same file:
//   Resize(size, interpolation=BILINEAR or BICUBIC)   Pillow's antialiased resampling,
//                                                     8-bit fixed point, bit for bit
//   CenterCrop(size)                                  torchvision's offsets (round half to even)
//   ToTensor(), Normalize(mean, std)                  float32, in torchvision's order
// Configured by a model's config.json "image" object:
//   {"resize": 256 | [h, w] | null, "center_crop": [h, w] | null,
//    "interpolation": "bilinear" (default) | "bicubic", "mean": [3], "std": [3]}
// (an integer resize sets the shorter side, keeping the aspect ratio, as torchvision).
#include <heed/tensor.h>

#include <array>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "loaders/image.h"

namespace heed {

struct ImageTransform {
  enum class Filter { bilinear, bicubic };
  int resize_short = 0;                    // > 0: the shorter side's new length
  std::optional<std::array<int, 2>> resize;  // (h, w)
  std::optional<std::array<int, 2>> center_crop;
  Filter filter = Filter::bilinear;
  std::array<float, 3> mean{}, std{};
};

// Refuses a picture size beyond heed::Limits::max_image_pixels ("WHAT: WxH pixels is more than ...").
void check_image_size(int64_t width, int64_t height, const std::string& what);

// `where` names the file in errors.
ImageTransform read_image_transform(const nlohmann::json& config, const std::string& where);

// The resized and cropped picture (what the model sees, before normalization).
Image transform_picture(const Image& image, const ImageTransform& t, const std::string& path);
// [3, H, W] float32 of an already transformed picture.
Tensor normalized_tensor(const Image& picture, const ImageTransform& t);
// Pillow's Image.resize((width, height), filter) on an RGB image.
Image pil_resize(const Image& image, int width, int height, ImageTransform::Filter filter);

}  // namespace heed
