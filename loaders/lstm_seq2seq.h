#pragma once
// heed's LSTM sequence-to-sequence model with Luong attention, as
// python/heed_lstm.py defines and saves it: config.json ("model_type":
// "heed_lstm_seq2seq") + model.safetensors (+ source.spm, target.spm, vocab.json
// for `heed translate`). Weight names and the computation: docs/models.md.
// Produces two graphs:
//   encoder      input_ids [batch, src], lengths [batch]
//                -> memory [batch, src, hidden], h, c [layers, batch, hidden]
//   decoder_step input_ids [batch, 1], h, c, feed [batch, hidden] (with input
//                feeding), memory, src_pad [batch, src] (bool; global attention)
//                or lengths [batch] (local-p)
//                -> logits [batch, 1, vocab], h_out, c_out, feed_out, attention [batch, 1, src]
// The decoder's recurrent state is every input X with an output X_out.
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

// Throws heed::Error naming the file and key for anything it does not support.
ir::GraphFile import_lstm_seq2seq(const std::string& dir, WeightStore& weights);

}  // namespace heed
