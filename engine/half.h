#pragma once
// IEEE half and bfloat16 conversions (round to nearest even), for loading and Cast.
#include <cstdint>
#include <cstring>

namespace heed {

inline float bits_to_float(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

inline float bf16_to_f32(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  uint32_t b = float_to_bits(f);
  if ((b & 0x7fffffff) > 0x7f800000) return uint16_t((b >> 16) | 0x40);  // NaN stays NaN
  return uint16_t((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000 | (man << 13));
  if (exp == 0) {
    if (man == 0) return bits_to_float(sign);
    float v = float(man) * (1.0f / 16777216.0f);  // subnormal: man * 2^-24
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

inline uint16_t f32_to_f16(float f) {
  uint32_t b = float_to_bits(f), sign = (b >> 16) & 0x8000;
  uint32_t abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return uint16_t(sign | 0x7e00);
  if (abs >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds to inf
  if (abs < 0x38800000) {                                 // subnormal or zero in half
    float v = bits_to_float(abs) * 16777216.0f;           // scale to units of 2^-24
    uint32_t m = uint32_t(v);
    float rem = v - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1))) ++m;
    return uint16_t(sign | m);
  }
  uint32_t r = abs - 0x38000000;  // rebias exponent 127 -> 15, keep 23 mantissa bits
  r = (r + 0xfff + ((r >> 13) & 1)) >> 13;
  return uint16_t(sign | r);
}

}  // namespace heed
