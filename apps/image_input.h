#pragma once
// Images for a model directory's encoder: decoded, transformed as its config's
// "image" entry says (loaders/image_transform.h), stacked into batches.
#include <heed/tensor.h>

#include <string>
#include <vector>

#include "loaders/image_transform.h"

namespace heed::detail {

class ImageInput {
 public:
  explicit ImageInput(const std::string& model_dir);
  Tensor tensor(const std::string& path) const;   // [3, H, W]
  Image picture(const std::string& path) const;   // resized and cropped, not normalized

 private:
  ImageTransform transform_;
};

// [3, H, W] tensors of one shape -> [N, 3, H, W].
Tensor stack(const std::vector<Tensor>& items);

// Indices 0..n-1 in groups of at most `batch` whose keys are equal, in order of first appearance.
std::vector<std::vector<size_t>> batches_by_key(const std::vector<Shape>& keys, size_t batch);

}  // namespace heed::detail
