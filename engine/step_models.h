#pragma once
// The architectures generation knows (see step_model.h).
#include <memory>

#include "engine/step_model.h"

namespace heed::detail {

// Marian importer's graphs: encoder, cross_kv, decoder_step with KV caches.
std::unique_ptr<StepModel> make_marian_steps(const Model& model, int threads, bool profile);
// Graphs whose decoder_step carries its state from input X to output X_out (LSTM seq2seq).
std::unique_ptr<StepModel> make_recurrent_steps(const Model& model, int threads, bool profile);

int64_t metadata_int(const Model& model, const std::string& key);
// The token ids every importer records (vocab_size, pad, eos, decoder start, forced eos).
TokenIds token_ids(const Model& model, int64_t max_positions);

}  // namespace heed::detail
