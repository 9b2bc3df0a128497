#include "engine/cpu_isa.h"

#include <cstdlib>
#include <string>

namespace heed {

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return has;
}

CpuIsa cpu_isa() {
  static const CpuIsa isa = [] {
    const char* asked = std::getenv("HEED_CPU_ISA");
    if (asked && std::string(asked) == "avx2") return CpuIsa::avx2;
    return cpu_has_avx512() ? CpuIsa::avx512 : CpuIsa::avx2;
  }();
  return isa;
}

}  // namespace heed
