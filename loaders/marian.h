#pragma once
// Hugging Face Marian (MarianMTModel) checkpoints as saved by save_pretrained:
// config.json + model.safetensors (+ source.spm, target.spm, vocab.json).
// Produces three graphs over the checkpoint's own weights:
//   encoder      input_ids [batch, src], positions [src], src_pad [batch, src] (bool)
//                -> encoder_out [batch, src, d_model]
//   cross_kv     encoder_out -> cross_k.{l}, cross_v.{l} [batch, heads, src, head_dim]
//                (each decoder layer's cross-attention keys/values, once per source)
//   decoder_step input_ids [batch, new], positions [new], position (i64), src_pad,
//                cross_k.{l}, cross_v.{l}, cache_k.{l}, cache_v.{l} [batch, heads, max, head_dim]
//                -> logits [batch, new, vocab], cross_attention [batch, heads, new, src]
#include <map>
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

// Throws heed::Error naming the file and key for anything it does not support.
ir::GraphFile import_marian(const std::string& dir, WeightStore& weights);

}  // namespace heed
