// Picture files through PNG/JPEG decoding and torchvision's transform (resize
// of the shorter side, center crop, normalization).
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "loaders/image.h"
#include "loaders/image_transform.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const heed::ImageTransform transform = heed::read_image_transform(
      nlohmann::json{{"image", {{"resize", 24}, {"center_crop", {16, 16}}, {"mean", {0.5, 0.5, 0.5}}, {"std", {0.25, 0.25, 0.25}}}}},
      "fuzz config");
  std::string path = heed::fuzz::write("picture", data, size);
  heed::fuzz::expect_no_crash([&] {
    heed::Image image = heed::read_image(path);
    (void)heed::normalized_tensor(heed::transform_picture(image, transform, path), transform);
  });
  return 0;
}
