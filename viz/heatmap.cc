#include "viz/heatmap.h"

#include <heed/error.h>

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "viz/text.h"

namespace heed::viz {

void viridis(float v, uint8_t out[3]) {
  static const std::array<std::array<float, 3>, 6> stops = {{{68, 1, 84}, {65, 68, 135}, {42, 120, 142},
                                                               {34, 168, 132}, {122, 209, 81}, {253, 231, 37}}};
  v = std::clamp(std::isfinite(v) ? v : 0.f, 0.f, 1.f) * float(stops.size() - 1);
  size_t i = std::min(size_t(v), stops.size() - 2);
  float f = v - float(i);
  for (int k = 0; k < 3; ++k) out[k] = uint8_t(std::lround(stops[i][k] * (1 - f) + stops[i + 1][k] * f));
}

// Tokens label an axis of their own length; any other axis (a local attention's
// window, a different sequence) is labelled by position.
static std::vector<std::string> labels_or_positions(const std::vector<std::string>& tokens, int n) {
  if (int(tokens.size()) == n) return tokens;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

std::vector<AttentionMap> split_attention(const std::string& name, const Tensor& weights,
                                          const std::vector<std::string>& target_tokens,
                                          const std::vector<std::string>& source_tokens) {
  const Shape& s = weights.shape();
  if (weights.dtype() != DType::f32 || s.rank() < 2 || s.rank() > 4)
    throw Error(fmt::format("{}: attention weights must be f32 [T, S], [B, T, S] or [B, H, T, S], got {}{}", name,
                            dtype_name(weights.dtype()), s.str()));
  int rows = int(s[s.rank() - 2]), cols = int(s[s.rank() - 1]);
  int batch = s.rank() >= 3 ? int(s[0]) : 1, heads = s.rank() == 4 ? int(s[1]) : 1;
  auto row_labels = labels_or_positions(target_tokens, rows);
  auto col_labels = labels_or_positions(source_tokens, cols);
  const float* w = weights.data_as<float>();
  size_t plane = size_t(rows) * size_t(cols);
  std::vector<AttentionMap> maps;
  for (int b = 0; b < batch; ++b) {
    std::string item = batch > 1 ? fmt::format(", batch {}", b) : "";
    std::vector<float> mean(plane, 0.f);
    for (int h = 0; h < heads; ++h) {
      const float* p = w + (size_t(b) * size_t(heads) + size_t(h)) * plane;
      for (size_t i = 0; i < plane; ++i) mean[i] += p[i] / float(heads);
      std::string title = heads > 1 ? fmt::format("{}: head {}{}", name, h, item) : name + item;
      maps.push_back({title, rows, cols, std::vector<float>(p, p + plane), row_labels, col_labels});
    }
    if (heads > 1) maps.push_back({fmt::format("{}: mean of {} heads{}", name, heads, item), rows, cols, mean,
                                   row_labels, col_labels});
  }
  return maps;
}

Image render_heatmap(const AttentionMap& map) {
  const int cell = std::clamp(640 / std::max(map.rows, map.cols), 4, 32);
  TextRenderer text(std::clamp(cell * 2 / 3, 9, 14));
  TextRenderer title_text(14);
  int label_w = 0, label_h = 0;
  for (const auto& l : map.row_labels) label_w = std::max(label_w, text.width(l));
  for (const auto& l : map.col_labels) label_h = std::max(label_h, text.width(l));
  bool show_labels = cell >= 9;  // below that, labels would overlap: positions only in the title
  if (!show_labels) label_w = label_h = 0;
  const int pad = 8, title_h = 24;
  const int x0 = pad + label_w + 4, y0 = title_h + pad + label_h + 4;
  Image img(x0 + map.cols * cell + pad, y0 + map.rows * cell + pad);
  const uint8_t black[3] = {0, 0, 0};
  std::string title = show_labels ? map.title : fmt::format("{} ({} x {})", map.title, map.rows, map.cols);
  title_text.draw(img, pad, 17, title, black);
  float max = 0.f;
  for (float v : map.weights) max = std::max(max, std::isfinite(v) ? v : 0.f);
  for (int r = 0; r < map.rows; ++r)
    for (int c = 0; c < map.cols; ++c) {
      uint8_t color[3];
      viridis(max > 0 ? map.weights[size_t(r) * size_t(map.cols) + size_t(c)] / max : 0.f, color);
      for (int y = 0; y < cell; ++y)
        for (int x = 0; x < cell; ++x) std::copy(color, color + 3, img.at(x0 + c * cell + x, y0 + r * cell + y));
    }
  if (show_labels) {
    int baseline = (cell + text.height() * 3 / 4) / 2;
    for (int r = 0; r < map.rows; ++r)
      text.draw(img, x0 - 4 - text.width(map.row_labels[size_t(r)]), y0 + r * cell + baseline, map.row_labels[size_t(r)], black);
    for (int c = 0; c < map.cols; ++c)
      text.draw_vertical(img, x0 + c * cell + baseline, y0 - 4, map.col_labels[size_t(c)], black);
  }
  return img;
}

// Bilinear sample of a grid at fractional coordinates (pixel centres).
static float sample(const float* g, int gh, int gw, float y, float x) {
  x = std::clamp(x, 0.f, float(gw - 1));
  y = std::clamp(y, 0.f, float(gh - 1));
  int x0 = int(x), y0 = int(y), x1 = std::min(x0 + 1, gw - 1), y1 = std::min(y0 + 1, gh - 1);
  float fx = x - float(x0), fy = y - float(y0);
  float top = g[y0 * gw + x0] * (1 - fx) + g[y0 * gw + x1] * fx;
  float bottom = g[y1 * gw + x0] * (1 - fx) + g[y1 * gw + x1] * fx;
  return top * (1 - fy) + bottom * fy;
}

AttentionMap attention_map(std::string title, const std::vector<std::vector<float>>& rows, int cols,
                           std::vector<std::string> row_labels, std::vector<std::string> col_labels) {
  AttentionMap map{std::move(title), int(rows.size()), cols, {}, std::move(row_labels), std::move(col_labels)};
  for (const auto& row : rows) map.weights.insert(map.weights.end(), row.begin(), row.end());
  return map;
}

Image render_overlay(const Image& image, const AttentionMap& map, int row, int grid_h, int grid_w, int width) {
  if (grid_h * grid_w != map.cols)
    throw Error(fmt::format("{}: a {}x{} grid has {} cells but the map has {} columns", map.title, grid_h, grid_w,
                            grid_h * grid_w, map.cols));
  int height = std::max(1, int(std::lround(double(image.height) * width / std::max(1, image.width))));
  Image out(width, height);
  const float* g = map.weights.data() + size_t(row) * size_t(map.cols);
  float max = *std::max_element(g, g + map.cols);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const uint8_t* src = image.at(std::min(image.width - 1, x * image.width / width),
                                    std::min(image.height - 1, y * image.height / height));
      float w = sample(g, grid_h, grid_w, (float(y) + 0.5f) * float(grid_h) / float(height) - 0.5f,
                       (float(x) + 0.5f) * float(grid_w) / float(width) - 0.5f);
      float a = max > 0 ? w / max : 0.f, alpha = 0.25f + 0.6f * a;
      uint8_t heat[3];
      viridis(a, heat);
      float gray = 0.299f * src[0] + 0.587f * src[1] + 0.114f * src[2];
      for (int k = 0; k < 3; ++k) out.at(x, y)[k] = uint8_t(std::lround(gray * (1 - alpha) + heat[k] * alpha));
    }
  return out;
}

Image scaled(const Image& image, int width) {
  int height = std::max(1, int(std::lround(double(image.height) * width / std::max(1, image.width))));
  Image out(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      std::copy_n(image.at(std::min(image.width - 1, x * image.width / width), std::min(image.height - 1, y * image.height / height)),
                  3, out.at(x, y));
  return out;
}

void write_png_file(const std::string& path, const Image& image) { write_png(path, image); }

static std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += t[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | (i + 1 < bytes.size() ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

static std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string render_html(const std::string& title, const std::vector<HtmlSection>& sections) {
  std::string html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(title) +
                     "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
                     "figure{display:inline-block;margin:8px;vertical-align:top}"
                     "figcaption{font-size:13px;color:#555;max-width:700px}img{image-rendering:pixelated}"
                     "h2{font-size:18px;border-bottom:1px solid #ddd}</style></head><body>\n<h1>" +
                     escape(title) + "</h1>\n";
  for (const HtmlSection& s : sections) {
    html += "<h2>" + escape(s.title) + "</h2>\n";
    for (const auto& [caption, img] : s.images)
      html += "<figure><img alt=\"" + escape(caption) + "\" src=\"data:image/png;base64," + base64(encode_png(img)) +
              "\"><figcaption>" + escape(caption) + "</figcaption></figure>\n";
  }
  return html + "</body></html>\n";
}

}  // namespace heed::viz
