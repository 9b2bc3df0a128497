// Which vector ISA heed's CPU kernels run: the CPU's best unless the
// environment keeps the process on AVX2, oneDNN included (the ctest entry
// cpu_tests_on_avx2 runs every CPU test that way).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backends/cpu/dnnl_util.h"
#include "engine/cpu_isa.h"

namespace heed {
namespace {

bool avx2_asked() {
  const char* asked = std::getenv("HEED_CPU_ISA");
  return asked && std::string(asked) == "avx2";
}

TEST(CpuIsa, FollowsTheCpuAndTheEnvironment) {
  if (avx2_asked()) EXPECT_EQ(cpu_isa(), CpuIsa::avx2);
  else EXPECT_EQ(cpu_isa() == CpuIsa::avx512, cpu_has_avx512());
}

TEST(CpuIsa, OneDnnIsKeptOnAvx2WhenAsked) {
  cpu::cpu_engine();
  const bool onednn_avx512 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
  if (avx2_asked()) EXPECT_FALSE(onednn_avx512);
  else if (cpu_has_avx512()) EXPECT_TRUE(onednn_avx512);
  std::printf("heed: %s, oneDNN: %s\n", cpu_isa() == CpuIsa::avx512 ? "AVX-512" : "AVX2",
              onednn_avx512 ? "AVX-512" : "AVX2 or less");
}

}  // namespace
}  // namespace heed
