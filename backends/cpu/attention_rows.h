#pragma once
// Attention one query row at a time: the masked softmax of a row of scores
// (every attention mode uses it), and one query against its keys and values
// (decoding: one query a row, memory-bound). Both have an AVX-512 and an AVX2
// build, chosen at run time (engine/cpu_isa.h).
#include <cstdint>

#include "backends/cpu/attention_core.h"

namespace heed::cpu {

struct QueryRow {
  const float* q;        // [dk], contiguous
  const float* k;        // key j at k + j * k_stride, [dk] contiguous
  int64_t k_stride;
  const float* v;        // value j at v + j * v_stride, [dv] contiguous
  int64_t v_stride;
  float* out;            // [dv], contiguous
  float* scores;         // [keys]: the probabilities, on return
  int64_t keys, dk, dv;
  float scale;
  QueryIndex index;      // whose masks apply
};

// Adds the masks to one row of scores for query `at` (global key index of row[0]
// is j0), then turns it into probabilities in place; a row with no visible key
// becomes zeros.
void masked_softmax_row(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& m, int64_t mask_stride);

// Adds the masks of query `at` over keys [j0, j0 + n) to `row` (-inf where hidden).
void add_masks_row(float* row, int64_t n, QueryIndex at, int64_t j0, const AttentionMasks& masks, int64_t mask_stride);

// out = softmax(scale q K^T + masks) V over the row's keys.
void attend_row(const QueryRow& row, const AttentionMasks& masks, int64_t mask_stride);

}  // namespace heed::cpu
