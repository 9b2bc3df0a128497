#pragma once
// Scaled dot-product attention over head-split strided views, shared by
// MultiHeadAttention and GlobalAttention:
//   Q [B, H, T, Dk], K [B, H, L, Dk], V [B, H, L, Dv]  ->  O [B, H, T, Dv]
// Three ways to compute it, chosen at prepare time:
//   materialized  the weights are wanted: scores [B, H, T, L], masked softmax, P V
//   blocked       no weights: on AVX-512 with head size 64 a flash-style kernel
//                 (backends/cpu/flash_attention.h; precision bf16 runs it in bf16
//                 on AMX where the CPU has AMX); otherwise blocks of queries,
//                 each against all keys (an exact
//                 softmax over a [B, H, rows, L] slab of at most `slab_bytes`), or,
//                 when even 16 query rows exceed that, query blocks x key blocks with
//                 an online softmax (flash-attention style). No T x L matrix exists
//                 either way; the GEMMs run on oneDNN
//   loops         the key count is only known at run time (KV cache) and T is small:
//                 one pass per query row, memory-bound like a decode step should be
#include <cstdint>
#include <memory>
#include <vector>

#include "backends/cpu/strided_matmul.h"
#include <heed/model.h>

namespace heed::cpu {

struct AttentionMasks {
  const float* key_padding = nullptr;  // [B / key_padding_group, L] additive (-inf hides a key)
  int64_t key_padding_group = 1;       // query rows b read key_padding row b / key_padding_group
  const float* attn_mask = nullptr;    // [T, L] additive
  int64_t mask_stride = 0;             // row stride of both masks (their L), 0: L
  // A mask of any broadcast shape over [B, H, T, L], additive: the mask of query
  // (b, h, t) over key j is at bias[b * bias_strides[0] + h * bias_strides[1] +
  // t * bias_strides[2] + j] (a stride of 0 broadcasts that dim).
  const float* bias = nullptr;
  int64_t bias_strides[3] = {0, 0, 0};
  bool causal = false;
  int64_t query_offset = 0;            // keys before query 0 (a KV cache's fill)
};

// Which query a row of scores belongs to: batch item, head, query index.
struct QueryIndex {
  int64_t b, h, t;
};

struct AttentionDims {
  int64_t B, H, T, L, Dk, Dv;
  // Query row b reads keys and values of row b / kv_group (the beams of one
  // source sharing its cross-attention keys); > 1 only in Mode::loops.
  int64_t kv_group = 1;
};

class AttentionCore {
 public:
  enum class Mode { materialized, blocked, loops };
  // For Mode::loops, dims.L is the capacity (the most keys run() may be given).
  static constexpr size_t kSlabBytes = size_t(32) << 20;
  // `precision` bf16 asks for the bf16 kernel (inputs and probabilities rounded to
  // bf16, sums in fp32); where there is none for these shapes or this CPU, fp32.
  AttentionCore(const AttentionDims& dims, const View4& q, const View4& k, const View4& v, const View4& o,
                float scale, Mode mode, size_t slab_bytes = kSlabBytes, Precision precision = Precision::f32);
  bool online() const;  // blocked mode chose the online softmax
  bool runs_bf16() const;  // the bf16 kernel was chosen
  // The scratch run() needs (scores, slabs, running sums), given as `workspace`.
  size_t workspace_bytes() const;
  AttentionCore(AttentionCore&&) noexcept;
  ~AttentionCore();
  // `keys`: how many keys to attend over (<= dims.L); `weights`: [B, H, T, dims.L] or
  // null; `workspace`: workspace_bytes(), 64-byte aligned.
  void run(const float* q, const float* k, const float* v, float* o, const AttentionMasks& masks, float* weights,
           int64_t keys, void* workspace);
  // The same over Q, K, V and O in bf16 (as uint16_t), all keys, no weights:
  // only where runs_bf16().
  void run_bf16_io(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, const AttentionMasks& masks,
                   void* workspace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed::cpu
