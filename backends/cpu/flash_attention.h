#pragma once
// Flash-style attention on AVX-512 for head size 64 (BERT, GPT-2, ViT, Marian):
// per (batch item, head), its keys and values packed once, then tiles of 32
// queries (one per vector lane, two vectors) against tiles of 32 keys, the
// softmax online (a running max and sum per query, lane-wise), the context
// accumulated in L1. No score matrix exists beyond one 32 x 32 tile. Two
// kernels: fp32 on FMAs (scores made 8 keys at a time in registers; 62-67% of
// the FMA peak on 2 cores of an Intel Sapphire Rapids for lengths >= 512,
// against 47-49% for oneDNN's GEMMs over slabs), and, for models run in bf16,
// bf16 on AMX tiles (flash_attention_amx.cc; 4-6x the fp32 kernel's speed).
// Figures: docs/benchmarks.md.
#include <cstddef>
#include <cstdint>

#include "backends/cpu/attention_core.h"

namespace heed::cpu {

struct FlashAttention {
  const float *q, *k, *v;
  float* o;
  View4 qv, kv, vv, ov;  // [B, H, rows, 64] each, the last stride 1
  int64_t B, H, T, L;
  float scale;
  const AttentionMasks* masks;
  int64_t mask_stride;
  // The bf16 kernel only: Q, K, V and O in bf16 instead (q, k, v, o null).
  const uint16_t *qh = nullptr, *kh = nullptr, *vh = nullptr;
  uint16_t* oh = nullptr;
};

// Whether the kernel takes these shapes: Dk = Dv = 64, each row contiguous.
bool flash_attention_fits(const AttentionDims& d, const View4& q, const View4& k, const View4& v, const View4& o);
// Workspace floats for one thread (the packed keys and the tiles).
size_t flash_thread_floats(int64_t L);
// Runs it with `threads` OpenMP threads over (batch, head, query range) tasks;
// `workspace` holds threads * flash_thread_floats(L) floats, 64-byte aligned.
void flash_attention_avx512(const FlashAttention& a, float* workspace, int threads);

// The bf16 kernel: whether this CPU and process can run it (AMX-BF16, granted
// by the kernel, allowed by HEED_CPU_ISA and ONEDNN_MAX_CPU_ISA), its
// workspace floats for one thread, and the run (arguments as above; Q, K, V
// and O in fp32, or all four in bf16: qh, kh, vh, oh).
bool flash_amx_usable();
size_t flash_amx_thread_floats(int64_t L);
void flash_attention_amx(const FlashAttention& a, float* workspace, int threads);

}  // namespace heed::cpu
