#pragma once
// Images through libpng and libjpeg: 8-bit RGB in memory.
#include <cstdint>
#include <string>
#include <vector>

namespace heed {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
  Image() = default;
  Image(int w, int h, uint8_t fill = 255) : width(w), height(h), rgb(size_t(w) * size_t(h) * 3, fill) {}
  uint8_t* at(int x, int y) { return rgb.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
  const uint8_t* at(int x, int y) const { return rgb.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
};

// PNG or JPEG, told apart by their signatures, as Pillow's
// Image.open(path).convert("RGB") gives it (gray replicated, alpha dropped,
// 16-bit cut to 8; 16-bit grayscale refused). Throws heed::Error naming the file.
Image read_image(const std::string& path);
void write_png(const std::string& path, const Image& image);
std::string encode_png(const Image& image);  // the bytes of a PNG file

}  // namespace heed
