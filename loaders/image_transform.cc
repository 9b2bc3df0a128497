#include "loaders/image_transform.h"

#include <heed/error.h>
#include <heed/limits.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace heed {
namespace {

// Pillow's Resample.c: filters, coefficient tables and 8-bit fixed point.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;  // per output pixel: the first input pixel and how many
  std::vector<int32_t> k;         // per output pixel, ksize fixed-point weights
};

Coefficients coefficients(int in_size, int out_size, ImageTransform::Filter filter) {
  double (*f)(double) = filter == ImageTransform::Filter::bilinear ? bilinear : bicubic;
  const double support0 = filter == ImageTransform::Filter::bilinear ? 1.0 : 2.0;
  const double scale = double(in_size) / out_size, filterscale = std::max(scale, 1.0);
  const double support = support0 * filterscale, ss = 1.0 / filterscale;
  Coefficients c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
  std::vector<double> w(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = std::max(int(center - support + 0.5), 0);
    int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) sum += w[size_t(x)] = f((x + xmin - center + 0.5) * ss);
    for (int x = 0; x < xmax; ++x) {
      const double v = sum != 0.0 ? w[size_t(x)] / sum : w[size_t(x)];
      c.k[size_t(xx) * size_t(c.ksize) + size_t(x)] = int32_t(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first.push_back(xmin);
    c.count.push_back(xmax);
  }
  return c;
}

uint8_t clip8(int32_t v) { return uint8_t(std::clamp(v >> kPrecisionBits, 0, 255)); }

// One pass along x (horizontal) or y over rows [row0, row0 + out rows) of `in`.
Image resample(const Image& in, const Coefficients& c, bool horizontal, int row0, int out_w, int out_h) {
  Image out(out_w, out_h);
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = c.k.data() + size_t(o) * size_t(c.ksize);
      int32_t s[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
      for (int i = 0; i < c.count[size_t(o)]; ++i) {
        const uint8_t* p = horizontal ? in.at(c.first[size_t(o)] + i, y + row0) : in.at(x, c.first[size_t(o)] + i);
        for (int ch = 0; ch < 3; ++ch) s[ch] += int32_t(p[ch]) * k[i];
      }
      for (int ch = 0; ch < 3; ++ch) out.at(x, y)[ch] = clip8(s[ch]);
    }
  return out;
}

// A side length from a config: a positive integer, read as int64 before any narrowing.
bool side_ok(const nlohmann::json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= INT32_MAX;
}

std::array<int, 2> pair_of(const nlohmann::json& v, const char* key, const std::string& where) {
  if (!v.is_array() || v.size() != 2 || !side_ok(v[0]) || !side_ok(v[1]))
    throw Error(fmt::format("{}: image.{} must be [height, width] (positive integers)", where, key));
  check_image_size(v[1].get<int64_t>(), v[0].get<int64_t>(), fmt::format("{}: image.{}", where, key));
  return {v[0].get<int>(), v[1].get<int>()};
}

std::array<float, 3> triple(const nlohmann::json& img, const char* key, const std::string& where) {
  if (!img.contains(key) || !img[key].is_array() || img[key].size() != 3)
    throw Error(fmt::format("{}: image.{} must be three numbers (R, G, B)", where, key));
  std::array<float, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!img[key][i].is_number()) throw Error(fmt::format("{}: image.{} must be three numbers (R, G, B)", where, key));
    out[i] = img[key][i].get<float>();
  }
  return out;
}

}  // namespace

void check_image_size(int64_t width, int64_t height, const std::string& what) {
  const int64_t limit = limits().max_image_pixels;
  if (width > limit || height > limit || width * height > limit)
    throw Error(fmt::format("{}: {}x{} pixels is more than the limit of {} (heed::Limits::max_image_pixels)", what,
                            width, height, limit));
}

Image pil_resize(const Image& image, int width, int height, ImageTransform::Filter filter) {
  if (width == image.width && height == image.height) return image;
  Coefficients horiz = coefficients(image.width, width, filter), vert = coefficients(image.height, height, filter);
  Image cur = image;
  if (width != image.width) {  // Pillow resamples only the rows the vertical pass reads
    const int row0 = vert.first.front(), rows = vert.first.back() + vert.count.back() - row0;
    for (int& f : vert.first) f -= row0;
    cur = resample(image, horiz, true, row0, width, rows);
  }
  if (height != image.height) cur = resample(cur, vert, false, 0, width, height);
  return cur;
}

ImageTransform read_image_transform(const nlohmann::json& config, const std::string& where) {
  if (!config.contains("image") || !config["image"].is_object())
    throw Error(fmt::format("{}: 'image' (the preprocessing: resize, center_crop, mean, std) is missing", where));
  const nlohmann::json& img = config["image"];
  ImageTransform t;
  if (img.contains("resize") && !img["resize"].is_null()) {
    if (img["resize"].is_number_integer()) {
      if (!side_ok(img["resize"])) throw Error(fmt::format("{}: image.resize must be positive", where));
      t.resize_short = img["resize"].get<int>();
    } else {
      t.resize = pair_of(img["resize"], "resize", where);
    }
  }
  if (img.contains("center_crop") && !img["center_crop"].is_null()) t.center_crop = pair_of(img["center_crop"], "center_crop", where);
  std::string filter = img.value("interpolation", std::string("bilinear"));
  if (filter != "bilinear" && filter != "bicubic")
    throw Error(fmt::format("{}: image.interpolation \"{}\" is not supported (bilinear or bicubic)", where, filter));
  t.filter = filter == "bilinear" ? ImageTransform::Filter::bilinear : ImageTransform::Filter::bicubic;
  t.mean = triple(img, "mean", where);
  t.std = triple(img, "std", where);
  for (float s : t.std)
    if (!(s > 0)) throw Error(fmt::format("{}: image.std must be positive", where));
  return t;
}

Image transform_picture(const Image& image, const ImageTransform& t, const std::string& path) {
  Image cur = image;
  if (t.resize) cur = pil_resize(cur, (*t.resize)[1], (*t.resize)[0], t.filter);
  if (t.resize_short > 0) {  // torchvision: the shorter side becomes resize_short, the longer int(size * long / short)
    const bool wide = cur.width > cur.height;
    const int shorter = wide ? cur.height : cur.width, longer = wide ? cur.width : cur.height;
    const double new_long_exact = double(t.resize_short) * longer / shorter;
    check_image_size(int64_t(std::min(new_long_exact, 1e15)), t.resize_short, fmt::format("{}: resized", path));
    const int new_long = int(new_long_exact);
    cur = wide ? pil_resize(cur, new_long, t.resize_short, t.filter) : pil_resize(cur, t.resize_short, new_long, t.filter);
  }
  if (t.center_crop) {
    const int ch = (*t.center_crop)[0], cw = (*t.center_crop)[1];
    if (ch > cur.height || cw > cur.width)
      throw Error(fmt::format("{}: {}x{} after resizing is smaller than the {}x{} center crop", path, cur.height, cur.width, ch, cw));
    const int top = int(std::nearbyint((cur.height - ch) / 2.0)), left = int(std::nearbyint((cur.width - cw) / 2.0));
    Image crop(cw, ch);
    for (int y = 0; y < ch; ++y) std::copy_n(cur.at(left, top + y), size_t(cw) * 3, crop.at(0, y));
    cur = std::move(crop);
  }
  return cur;
}

Tensor normalized_tensor(const Image& picture, const ImageTransform& t) {
  const int64_t H = picture.height, W = picture.width;
  Tensor out = Tensor::empty(DType::f32, {3, H, W});
  float* o = out.data_as<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const float v = float(picture.at(int(x), int(y))[c]) / 255.0f;  // ToTensor, then Normalize: (v - mean) / std
        o[(c * H + y) * W + x] = (v - t.mean[size_t(c)]) / t.std[size_t(c)];
      }
  return out;
}

}  // namespace heed
