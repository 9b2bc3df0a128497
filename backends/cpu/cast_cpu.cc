// Cast between any two dtypes: floats to integers truncate toward zero and
// anything to bool tests != 0, as PyTorch's .to() does. Where C++ (and so
// PyTorch) leaves the result undefined, heed defines it: NaN becomes 0 and a
// value beyond the integer type's range (inf included) saturates to its limit.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "engine/half.h"

namespace heed::cpu {
namespace {

struct F16 { uint16_t bits; };
struct BF16 { uint16_t bits; };
struct Bool { uint8_t v; };

template <typename T> auto load(T v) { return v; }
inline float load(F16 h) { return f16_to_f32(h.bits); }
inline float load(BF16 h) { return bf16_to_f32(h.bits); }
inline uint8_t load(Bool b) { return b.v != 0; }

template <typename T> T saturating(float v) {
  if (std::isnan(v)) return T(0);
  // The limits as floats round up for 32/64-bit types, hence >= for the top.
  if (v >= float(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  if (v <= float(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  return T(v);
}

template <typename T, typename V> T store(V v) {
  if constexpr (std::is_same_v<T, F16>) return {f32_to_f16(float(v))};
  else if constexpr (std::is_same_v<T, BF16>) return {f32_to_bf16(float(v))};
  else if constexpr (std::is_same_v<T, Bool>) return {uint8_t(v != V(0))};
  else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<V>) return saturating<T>(v);
  else return T(v);
}

template <typename F> auto with_type(DType d, F f) {
  switch (d) {
    case DType::f32: return f(float{});
    case DType::f16: return f(F16{});
    case DType::bf16: return f(BF16{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::boolean: return f(Bool{});
    case DType::i8: return f(int8_t{});
  }
  throw Error("unreachable dtype");
}

}  // namespace

void register_cast_kernels() {
  register_kernel("Cast", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      int64_t n = s.out[0].shape.numel();
      return with_type(s.in[0].dtype, [&](auto src_tag) {
        return with_type(s.out[0].dtype, [&](auto dst_tag) -> std::unique_ptr<Invocation> {
          using S = decltype(src_tag);
          using D = decltype(dst_tag);
          return invocation([n](const Buffers& io) {
            const S* src = io.in_as<S>(0);
            D* dst = io.out_as<D>(0);
#pragma omp parallel for if (n > 65536)
            for (int64_t i = 0; i < n; ++i) dst[i] = store<D>(load(src[i]));
          });
        });
      });
    });
  });
}

}  // namespace heed::cpu
