#include "engine/stored_weight.h"

#include <heed/error.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/half.h"
#include "engine/safetensors.h"

namespace heed {
namespace {

using json = nlohmann::json;

// [a, b] -> [b, a], any element size.
template <typename T>
void transpose(const T* in, int64_t a, int64_t b, T* out) {
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) out[j * a + i] = in[i * b + j];
}

// An int8 weight's channels as rows: [channels, rest] (axis 0) or a matrix's columns.
int64_t channels_of(const Shape& s, int axis) { return s.rank() ? s[axis] : 1; }

[[noreturn]] void bad(const SafetensorsFile& file, const std::string& what) {
  throw Error(fmt::format("{}: {}", file.path, what));
}

StoredWeight read_one(const SafetensorsFile& file, Precision precision, const std::string& name, const json& entry,
                      std::set<std::string>* scale_names) {
  const std::string where = fmt::format("__metadata__[\"{}\"].weights[\"{}\"]", kQuantizedKey, name);
  if (!entry.is_object()) bad(file, where + ": expected an object");
  const Tensor* values = file.find(name);
  if (!values) bad(file, fmt::format("{}: no tensor '{}' in the file", where, name));
  StoredWeight w{precision, *values, {}, 0};
  const DType want = precision == Precision::int8 ? DType::i8 : DType::bf16;
  if (values->dtype() != want)
    bad(file, fmt::format("tensor '{}': stored {} must be {}, not {}", name, precision_name(precision), dtype_name(want),
                          dtype_name(values->dtype())));
  if (precision == Precision::bf16) return w;
  const Shape& s = values->shape();
  if (!entry.contains("axis") || !entry["axis"].is_number_integer() || !entry.contains("scales") ||
      !entry["scales"].is_string())
    bad(file, where + ": an int8 weight needs \"axis\" (integer) and \"scales\" (a tensor name)");
  const int64_t axis = entry["axis"].get<int64_t>();
  if (!(axis == 0 && s.rank() >= 1) && !(axis == 1 && s.rank() == 2))
    bad(file, fmt::format("tensor '{}': int8 channels along axis {} of a rank-{} weight (0, or 1 of a matrix)", name,
                          axis, s.rank()));
  w.axis = int(axis);
  const std::string scales = entry["scales"].get<std::string>();
  const Tensor* sc = file.find(scales);
  if (!sc) bad(file, fmt::format("tensor '{}': its scales '{}' are not in the file", name, scales));
  const int64_t channels = channels_of(s, w.axis);
  if (sc->dtype() != DType::f32 || sc->shape().rank() != 1 || sc->shape()[0] != channels)
    bad(file, fmt::format("tensor '{}': its scales '{}' are {}{}, expected f32[{}] (one per channel along axis {})", name,
                          scales, dtype_name(sc->dtype()), sc->shape().str(), channels, w.axis));
  const float* p = sc->data_as<float>();
  for (int64_t i = 0; i < channels; ++i)
    if (!std::isfinite(p[i]) || p[i] < 0.f)
      bad(file, fmt::format("tensor '{}': scale {} of '{}' is {} (scales are finite and >= 0)", name, i, scales, p[i]));
  w.scales = *sc;
  scale_names->insert(scales);
  return w;
}

}  // namespace

// std::rint (the default rounding mode: ties to even) compiles to one vector
// instruction; std::nearbyint stayed a libm call per element.
void quantize_rows(const float* x, int64_t m, int64_t k, int8_t* q, float* scale, float levels) {
#pragma omp parallel for if (m * k > (int64_t(1) << 16)) schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    const float* row = x + i * k;
    float amax = 0.f, finite = 0.f;
#pragma omp simd reduction(max : amax) reduction(+ : finite)
    for (int64_t j = 0; j < k; ++j) {
      amax = std::max(amax, std::fabs(row[j]));
      finite += row[j] * 0.f;  // NaN once any element is inf or NaN
    }
    int8_t* out = q + i * k;
    if (finite != 0.f || amax == 0.f) {
      scale[i] = finite != 0.f ? NAN : 0.f;
      std::fill(out, out + k, int8_t(0));
      continue;
    }
    const float inv = levels / amax;
    scale[i] = amax / levels;
#pragma omp simd
    for (int64_t j = 0; j < k; ++j) out[j] = int8_t(std::rint(row[j] * inv));
  }
}

StoredWeight store_weight(const Tensor& w, Precision precision, int axis, const std::string& name) {
  const Shape& s = w.shape();
  StoredWeight out{precision, {}, {}, axis};
  if (precision == Precision::bf16) {
    out.values = Tensor::empty(DType::bf16, s);
    const float* src = w.data_as<float>();
    uint16_t* dst = out.values.data_as<uint16_t>();
    for (int64_t i = 0; i < w.numel(); ++i) dst[i] = f32_to_bf16(src[i]);
    return out;
  }
  const int64_t n = channels_of(s, axis), k = n ? w.numel() / n : 0;
  std::vector<float> rows;
  const float* src = w.data_as<float>();
  if (axis == 1) {  // a matrix's columns: quantized as rows of its transpose
    rows.resize(size_t(w.numel()));
    transpose(src, k, n, rows.data());
    src = rows.data();
  }
  std::vector<int8_t> q(size_t(w.numel()));
  out.scales = Tensor::empty(DType::f32, Shape({n}));
  quantize_rows(src, n, k, q.data(), out.scales.data_as<float>());
  for (int64_t i = 0; i < n; ++i)
    if (std::isnan(out.scales.data_as<float>()[i]))
      throw Error(fmt::format("weight '{}': channel {} (axis {}) holds inf or NaN, which int8 cannot hold", name, i, axis));
  out.values = Tensor::empty(DType::i8, s);
  if (axis == 1) transpose(q.data(), n, k, out.values.data_as<int8_t>());
  else std::copy(q.begin(), q.end(), out.values.data_as<int8_t>());
  return out;
}

void f32_row(const StoredWeight& w, int64_t row, float* dst) {
  const int64_t width = w.values.numel() / w.values.shape()[0], at = row * width;
  if (w.precision == Precision::bf16) {
    const uint16_t* src = w.values.data_as<uint16_t>() + at;
    for (int64_t j = 0; j < width; ++j) dst[j] = bf16_to_f32(src[j]);
    return;
  }
  const int8_t* q = w.values.data_as<int8_t>() + at;
  const float* scale = w.scales.data_as<float>();
  if (w.axis == 0)
    for (int64_t j = 0; j < width; ++j) dst[j] = float(q[j]) * scale[row];
  else  // a matrix's columns
    for (int64_t j = 0; j < width; ++j) dst[j] = float(q[j]) * scale[j];
}

void f32_values(const StoredWeight& w, float* dst) {
  if (w.values.numel() == 0) return;
  const int64_t rows = w.values.shape().rank() ? w.values.shape()[0] : 1;
  if (w.values.shape().rank() == 0) {  // a scalar (bf16 only: int8 channels need an axis)
    dst[0] = bf16_to_f32(w.values.data_as<uint16_t>()[0]);
    return;
  }
  const int64_t width = w.values.numel() / rows;
#pragma omp parallel for if (w.values.numel() > (int64_t(1) << 16)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) f32_row(w, r, dst + r * width);
}

std::map<std::string, StoredWeight> read_stored_weights(const SafetensorsFile& file,
                                                        std::set<std::string>* scale_names) {
  std::map<std::string, StoredWeight> out;
  auto it = file.metadata.find(kQuantizedKey);
  if (it == file.metadata.end()) return out;
  const std::string where = fmt::format("__metadata__[\"{}\"]", kQuantizedKey);
  json j;
  try {
    j = json::parse(it->second);
  } catch (const json::exception& e) {
    bad(file, fmt::format("{}: not JSON ({})", where, e.what()));
  }
  if (!j.is_object() || !j.contains("precision") || !j["precision"].is_string() || !j.contains("weights") ||
      !j["weights"].is_object())
    bad(file, where + ": expected {\"precision\": \"int8\"|\"bf16\", \"weights\": {...}}");
  const std::string name = j["precision"].get<std::string>();
  if (name != "int8" && name != "bf16") bad(file, fmt::format("{}: precision '{}' (expected int8 or bf16)", where, name));
  const Precision precision = precision_from_name(name);
  for (const auto& [weight, entry] : j["weights"].items())
    out.emplace(weight, read_one(file, precision, weight, entry, scale_names));
  return out;
}

std::string stored_weights_metadata(Precision precision, const std::map<std::string, StoredWeight>& weights,
                                    const std::map<std::string, std::string>& scales) {
  json list = json::object();
  for (const auto& [name, w] : weights)
    list[name] = precision == Precision::int8 ? json{{"axis", w.axis}, {"scales", scales.at(name)}} : json::object();
  return json{{"precision", precision_name(precision)}, {"weights", list}}.dump();
}

}  // namespace heed
