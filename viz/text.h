#pragma once
// Text drawn with FreeType (DejaVu Sans from Debian's fonts-dejavu-core, or the
// font named by $HEED_FONT), for axis labels and titles on heatmaps.
#include <memory>
#include <string>

#include "loaders/image.h"

namespace heed::viz {

class TextRenderer {
 public:
  explicit TextRenderer(int pixel_size);
  ~TextRenderer();
  int width(const std::string& utf8) const;
  int height() const { return pixel_size_; }
  // Draws with the baseline at y (horizontal), or reading bottom to top with the
  // text's baseline at column x (vertical).
  void draw(Image& img, int x, int y, const std::string& utf8, const uint8_t color[3]) const;
  void draw_vertical(Image& img, int x, int y_bottom, const std::string& utf8, const uint8_t color[3]) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int pixel_size_;
};

}  // namespace heed::viz
