#pragma once
// The vector instruction set of heed's own CPU loops. heed is built for
// x86-64-v3 (AVX2 + FMA); loops that gain from AVX-512 (F, BW, DQ, VL) carry a
// second build of themselves, marked HEED_AVX512, and choose between the two at
// run time. Setting HEED_CPU_ISA=avx2 keeps a process on AVX2 (oneDNN too),
// as on a machine without AVX-512: the tests cover both paths that way.
namespace heed {

enum class CpuIsa { avx2, avx512 };

// Decided once per process: AVX-512 when the CPU has it, unless HEED_CPU_ISA
// says avx2 ("auto" or unset: the CPU's best; "avx512": an error without it).
// A value it does not know throws heed::Error (Model::load reads it first).
CpuIsa cpu_isa();
// The CPU has AVX-512 (whatever cpu_isa() says).
bool cpu_has_avx512();

}  // namespace heed

// A function compiled for AVX-512 with 512-bit vectors (GCC otherwise prefers
// 256-bit vectors even where AVX-512 is enabled). Call it only when
// cpu_isa() == CpuIsa::avx512; code it inlines is compiled the same way.
// Clang knows no prefer-vector-width target and would drop the whole attribute
// (compiling AVX-512 intrinsics for AVX2): it says the same with min_vector_width.
#if defined(__clang__)
#define HEED_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"), min_vector_width(512)))
#else
#define HEED_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,prefer-vector-width=512")))
#endif
// A body written once and compiled into each caller's build: inlined into an
// HEED_AVX512 function it is vectorized for AVX-512, elsewhere for AVX2.
#define HEED_INLINE __attribute__((always_inline)) inline
