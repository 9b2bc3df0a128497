// Pictures decoded and transformed as torchvision does (Pillow decoding,
// Resize with Pillow's antialiased filters, CenterCrop, ToTensor, Normalize),
// against torchvision's tensors (tests/reference/gen_vision_fixtures.py), and
// broken or unsupported files refused with one line naming them.
#include <heed/error.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "loaders/image_transform.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

nlohmann::json transforms_fixture() {
  std::ifstream f(test::fixture("image_transforms.json"));
  return nlohmann::json::parse(f);
}

Tensor heed_tensor(const std::string& image, const nlohmann::json& config) {
  ImageTransform t = read_image_transform(config, "test config");
  std::string path = test::fixture("images/" + image);
  return normalized_tensor(transform_picture(read_image(path), t, path), t);
}

TEST(ImageInput, EqualsTorchvisionForEveryPictureAndTransform) {
  SafetensorsFile io = read_safetensors(test::fixture("image_io.safetensors"));
  nlohmann::json fx = transforms_fixture();
  int checked = 0;
  for (const auto& image : fx["images"])
    for (const auto& [name, config] : fx["transforms"].items()) {
      SCOPED_TRACE(image.get<std::string>() + " / " + name);
      const Tensor* expected = io.find(image.get<std::string>() + "/" + name);
      ASSERT_NE(expected, nullptr);
      // Bit for bit: the same 8-bit picture, then the same float32 arithmetic.
      EXPECT_TRUE(test::all_close(heed_tensor(image, config), *expected, 0, 0));
      ++checked;
    }
  EXPECT_EQ(checked, 24);
}

TEST(ImageInput, BrokenFilesAreOneLineErrorsNamingThem) {
  for (const char* name : {"truncated.png", "truncated.jpg", "not_an_image.png", "empty.jpg", "missing.png"}) {
    const std::string path = test::fixture(std::string("images/") + name);
    EXPECT_TRUE(test::throws_error_with([&] { read_image(path); }, path)) << name;
  }
  EXPECT_TRUE(test::throws_error_with([&] { read_image(test::fixture("images/gray16.png")); }, "16-bit grayscale"));
}

TEST(ImageInput, BadTransformConfigsAreRefused) {
  using nlohmann::json;
  auto config = [](json image) { return json{{"image", image}}; };
  json good = {{"mean", {0.5, 0.5, 0.5}}, {"std", {0.2, 0.2, 0.2}}};
  EXPECT_TRUE(test::throws_error_with([&] { read_image_transform(json::object(), "cfg.json"); }, "cfg.json: 'image'"));
  json bad = good;
  bad["std"] = {0.2, 0.0, 0.2};
  EXPECT_TRUE(test::throws_error_with([&] { read_image_transform(config(bad), "cfg.json"); }, "std must be positive"));
  bad = good;
  bad["mean"] = {0.5, 0.5};
  EXPECT_TRUE(test::throws_error_with([&] { read_image_transform(config(bad), "cfg.json"); }, "image.mean"));
  bad = good;
  bad["interpolation"] = "lanczos";
  EXPECT_TRUE(test::throws_error_with([&] { read_image_transform(config(bad), "cfg.json"); }, "lanczos"));
  bad = good;
  bad["resize"] = {10, -3};
  EXPECT_TRUE(test::throws_error_with([&] { read_image_transform(config(bad), "cfg.json"); }, "image.resize"));
  json crop = good;
  crop["center_crop"] = {500, 500};
  ImageTransform t = read_image_transform(config(crop), "cfg.json");
  const std::string path = test::fixture("images/rgb.png");
  EXPECT_TRUE(test::throws_error_with([&] { transform_picture(read_image(path), t, path); }, "smaller than the 500x500"));
}

}  // namespace
}  // namespace heed
