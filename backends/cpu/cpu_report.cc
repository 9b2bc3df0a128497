// `heed inspect --cpu`: the CPU, the instruction sets heed's loops and oneDNN
// run, the projections' kernel, and which precisions this CPU can run.
#include <omp.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/projection.h"
#include "backends/cpu/flash_attention.h"
#include "engine/cpu_isa.h"

namespace heed::cpu {
namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown (no /proc/cpuinfo)";
}

std::string onednn_isa() {
  cpu_engine();  // the engine caps oneDNN's ISA under HEED_CPU_ISA=avx2 before anything asks it
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "older than avx2";
  }
}

std::string availability(Precision p) {
  std::string why = precision_unavailable(p);
  const std::string prefix = fmt::format("precision {}: ", precision_name(p));
  if (why.starts_with(prefix)) why.erase(0, prefix.size());
  if (!why.empty()) return "no (" + why + ")";
  if (p == Precision::int8 && !int8_gemm_exact())
    return "yes (projections on heed's AVX2 int8 kernel: oneDNN's would add products in 16 bits without AVX-512 VNNI; "
           "convolutions with 7-bit weights, which oneDNN's 16-bit sums hold exactly)";
  return "yes";
}

// What MultiHeadAttention's core runs on in a bf16 model (head size 64, no
// weights returned).
std::string attention_core_bf16() {
  if (flash_amx_usable()) return "AMX tiles (heed's flash kernel: bf16 inputs and probabilities, fp32 sums)";
  return cpu_isa() == CpuIsa::avx512 ? "no, fp32 (no AMX-BF16 here, or ONEDNN_MAX_CPU_ISA below AMX)"
                                     : "no, fp32 (no AMX-BF16 here, or HEED_CPU_ISA=avx2)";
}

}  // namespace

std::string cpu_report() {
  const char* asked = std::getenv("HEED_CPU_ISA");
  const bool avx512 = cpu_isa() == CpuIsa::avx512;
  const char* projections = !avx512 ? "oneDNN (AVX2; heed's AVX2 panels for wide weights at decoding's row counts)"
                            : avx512_projection_kernel() == ProjectionKernel::panels ? "heed's AVX-512 panels"
                                                                                     : "oneDNN's packed weights";
  return fmt::format(
      "cpu: {}\n"
      "heed loops: {} (HEED_CPU_ISA={})\n"
      "oneDNN: {}\n"
      "f32 projections: {}\n"
      "precision bf16: {}\n"
      "attention core in bf16: {}\n"
      "precision int8: {}\n"
      "threads: {} (OpenMP)\n",
      cpu_model(), avx512 ? "AVX-512" : "AVX2", asked && *asked ? asked : "auto", onednn_isa(), projections,
      availability(Precision::bf16), attention_core_bf16(), availability(Precision::int8), omp_get_max_threads());
}

}  // namespace heed::cpu
