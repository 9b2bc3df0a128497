#include "apps/image_input.h"

#include <heed/error.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "loaders/word_map.h"

namespace heed::detail {

ImageInput::ImageInput(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  transform_ = read_image_transform(read_json_file(path, "the model's configuration"), path);
}

Tensor ImageInput::tensor(const std::string& path) const { return normalized_tensor(picture(path), transform_); }

Image ImageInput::picture(const std::string& path) const { return transform_picture(read_image(path), transform_, path); }

Tensor stack(const std::vector<Tensor>& items) {
  Shape shape{int64_t(items.size())};
  for (int64_t d : items.at(0).shape()) shape.push_back(d);
  Tensor out = Tensor::empty(items[0].dtype(), shape);
  char* dst = static_cast<char*>(out.data());
  for (const Tensor& t : items) {
    std::memcpy(dst, t.data(), t.nbytes());
    dst += t.nbytes();
  }
  return out;
}

std::vector<std::vector<size_t>> batches_by_key(const std::vector<Shape>& keys, size_t batch) {
  std::vector<std::vector<size_t>> out;
  std::vector<size_t> open;  // per group of equal keys, the index in `out` of its unfilled batch
  std::vector<Shape> open_keys;
  for (size_t i = 0; i < keys.size(); ++i) {
    size_t g = 0;
    while (g < open_keys.size() && !(open_keys[g] == keys[i])) ++g;
    if (g == open_keys.size() || out[open[g]].size() >= batch) {
      if (g == open_keys.size()) {
        open_keys.push_back(keys[i]);
        open.push_back(out.size());
      } else {
        open[g] = out.size();
      }
      out.emplace_back();
    }
    out[open[g]].push_back(i);
  }
  return out;
}

}  // namespace heed::detail
