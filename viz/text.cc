#include "viz/text.h"

#include <heed/error.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <ft2build.h>
#include FT_FREETYPE_H

namespace heed::viz {
namespace {

std::vector<char32_t> decode_utf8(const std::string& s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    char32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (int k = 1; k < n && i + size_t(k) < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + size_t(k)]) & 0x3f);
    out.push_back(cp);
    i += size_t(n);
  }
  return out;
}

std::string font_path() {
  if (const char* env = std::getenv("HEED_FONT")) return env;
  for (const char* p : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"})
    if (std::filesystem::exists(p)) return p;
  throw Error("no font for heatmap labels: install fonts-dejavu-core or set HEED_FONT to a .ttf file");
}

}  // namespace

struct TextRenderer::Impl {
  FT_Library lib = nullptr;
  FT_Face face = nullptr;
};

TextRenderer::TextRenderer(int pixel_size) : impl_(std::make_unique<Impl>()), pixel_size_(pixel_size) {
  std::string path = font_path();
  if (FT_Init_FreeType(&impl_->lib)) throw Error("FreeType failed to start");
  if (FT_New_Face(impl_->lib, path.c_str(), 0, &impl_->face)) throw Error(fmt::format("{}: cannot load font", path));
  FT_Set_Pixel_Sizes(impl_->face, 0, FT_UInt(pixel_size));
}

TextRenderer::~TextRenderer() {
  if (impl_->face) FT_Done_Face(impl_->face);
  if (impl_->lib) FT_Done_FreeType(impl_->lib);
}

int TextRenderer::width(const std::string& utf8) const {
  int w = 0;
  for (char32_t cp : decode_utf8(utf8))
    if (!FT_Load_Char(impl_->face, cp, FT_LOAD_DEFAULT)) w += int(impl_->face->glyph->advance.x >> 6);
  return w;
}

// Calls put(dx, dy, coverage) for every covered pixel of the text laid out
// horizontally with its baseline at dy = 0.
template <typename Put>
static void layout(FT_Face face, const std::string& utf8, Put put) {
  int pen = 0;
  for (char32_t cp : decode_utf8(utf8)) {
    if (FT_Load_Char(face, cp, FT_LOAD_RENDER)) continue;
    const FT_GlyphSlot g = face->glyph;
    for (unsigned r = 0; r < g->bitmap.rows; ++r)
      for (unsigned c = 0; c < g->bitmap.width; ++c) {
        int cov = g->bitmap.buffer[r * unsigned(g->bitmap.pitch) + c];
        if (cov) put(pen + g->bitmap_left + int(c), int(r) - g->bitmap_top, cov);
      }
    pen += int(g->advance.x >> 6);
  }
}

static void blend(Image& img, int x, int y, int cov, const uint8_t color[3]) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  uint8_t* p = img.at(x, y);
  for (int k = 0; k < 3; ++k) p[k] = uint8_t((p[k] * (255 - cov) + color[k] * cov) / 255);
}

void TextRenderer::draw(Image& img, int x, int y, const std::string& utf8, const uint8_t color[3]) const {
  layout(impl_->face, utf8, [&](int dx, int dy, int cov) { blend(img, x + dx, y + dy, cov, color); });
}

void TextRenderer::draw_vertical(Image& img, int x, int y_bottom, const std::string& utf8, const uint8_t color[3]) const {
  // Rotated 90 degrees counter-clockwise: the text's x runs up, its y runs right.
  layout(impl_->face, utf8, [&](int dx, int dy, int cov) { blend(img, x + dy, y_bottom - dx, cov, color); });
}

}  // namespace heed::viz
