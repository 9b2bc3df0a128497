#pragma once
// Weights as a quantized file stores them (`heed quantize`, docs/precision.md):
// int8 values with one scale per output channel (w ~ q * scale, the channels
// along `axis`), or bf16 values. The scheme is CTranslate2's: symmetric, scale =
// max|channel| / 127, q = round(w * (127 / max|channel|)), ties to even.
//
// In the file: the values under the weight's own name (I8 or BF16), each int8
// weight's scales as an F32 tensor beside it, and __metadata__["heed.quantized"]:
//   {"precision": "int8", "weights": {"W": {"axis": 0, "scales": "W.scales"}, ...}}
//   {"precision": "bf16", "weights": {"W": {}, ...}}
#include <heed/model.h>
#include <heed/tensor.h>

#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>

namespace heed {

struct SafetensorsFile;

inline constexpr const char* kQuantizedKey = "heed.quantized";

struct StoredWeight {
  Precision precision = Precision::int8;
  Tensor values;  // i8 or bf16, in the weight's shape
  Tensor scales;  // int8: f32 [values.shape()[axis]]; none for bf16
  int axis = 0;
};

// Row i of x [m, k] as s8 with x ~ q * scale[i] (symmetric, scale = max|row| /
// levels, ties to even); a row holding inf or NaN gets scale NaN and zeros, a
// zero row 0. What kernels do to activations at run time and to weights at load
// (levels 63: convolution weights where oneDNN sums products in 16 bits).
void quantize_rows(const float* x, int64_t m, int64_t k, int8_t* q, float* scale, float levels = 127.f);

// `w` (f32) stored in `precision` (int8: channels along `axis`, which is 0, or 1 of
// a matrix). Throws heed::Error naming `name` when a channel holds inf or NaN.
StoredWeight store_weight(const Tensor& w, Precision precision, int axis, const std::string& name);

// The f32 values a stored weight stands for (q * scale; bf16 widened), into `out`:
// all of them, or row `row` along axis 0 (numel / shape[0] values).
void f32_values(const StoredWeight& w, float* out);
void f32_row(const StoredWeight& w, int64_t row, float* out);

// The stored weights of a quantized file (none without the metadata key), each
// checked against the metadata: dtype, shape, its scales (f32, one per channel,
// finite, >= 0). Throws heed::Error naming the file and tensor on any mismatch.
// `scale_names` receives the names of the scale tensors, which are no weights.
std::map<std::string, StoredWeight> read_stored_weights(const SafetensorsFile& file,
                                                        std::set<std::string>* scale_names);

// The metadata value for `weights` (all of one precision); `scales`: each int8
// weight's scales tensor name in the file.
std::string stored_weights_metadata(Precision precision, const std::map<std::string, StoredWeight>& weights,
                                    const std::map<std::string, std::string>& scales);

}  // namespace heed
