#include "engine/cpu_isa.h"

#include <heed/error.h>

#include <cstdlib>
#include <string>

namespace heed {

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return has;
}

// HEED_CPU_ISA: unset, "" or "auto" (the CPU's best), "avx2", or "avx512" (where
// the CPU has it); anything else is an error rather than silently ignored.
CpuIsa cpu_isa() {
  static const CpuIsa isa = [] {
    const char* env = std::getenv("HEED_CPU_ISA");
    const std::string asked = env ? env : "";
    if (asked.empty() || asked == "auto") return cpu_has_avx512() ? CpuIsa::avx512 : CpuIsa::avx2;
    if (asked == "avx2") return CpuIsa::avx2;
    if (asked != "avx512") throw Error("HEED_CPU_ISA=" + asked + ": expected avx2, avx512 or auto");
    if (!cpu_has_avx512()) throw Error("HEED_CPU_ISA=avx512, but this CPU lacks AVX-512 (F, BW, DQ and VL)");
    return CpuIsa::avx512;
  }();
  return isa;
}

}  // namespace heed
