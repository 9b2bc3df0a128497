#pragma once
// Sequence generation with an encoder-decoder model loaded from a Marian
// checkpoint (KV caches), a heed LSTM seq2seq or a Show, Attend and Tell
// directory (recurrent state):
// greedy and beam search, batched over sources of different lengths, following
// transformers' generate() (its beam search, length penalty, forced EOS and
// minimum length).
#include <heed/export.h>
#include <heed/model.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace heed {

struct GenerationOptions {
  int beam_size = 1;             // 1: greedy
  int num_hypotheses = 1;        // n-best (at most beam_size)
  float length_penalty = 1.0f;   // beam scores are sum(log p) / length^length_penalty
  int max_new_tokens = 256;      // tokens after the start token (EOS included)
  int min_new_tokens = 0;        // EOS is suppressed before this many
  bool return_attention = false; // per generated token, the attention over the source (Marian: last layer, head mean)
  // transformers' logits processors over what each hypothesis has generated:
  std::vector<std::vector<int64_t>> bad_words_ids;  // never generate these sequences ([[pad]] in every opus-mt model)
  float repetition_penalty = 1.0f;  // > 1 lowers the scores of tokens already generated
  int no_repeat_ngram_size = 0;     // > 0: no n-gram of this size appears twice
};

struct Generation {
  std::vector<int64_t> tokens;   // generated ids, without the start token, up to and including EOS
  // Greedy: the sum of the chosen tokens' log-probabilities under the
  // distributions they were chosen from (a forced EOS counts 0, a held-back EOS
  // is left out). Beam search: that sum divided by length^length_penalty, as
  // transformers' sequences_scores.
  float score = 0;
  std::vector<std::vector<float>> attention;  // [token][source position], when asked
};

class HEED_API Generator {
 public:
  explicit Generator(const Model& model, int threads = 0, bool profile = false);
  ~Generator();
  // heed's defaults with the model's generation_config.json applied (a Marian
  // checkpoint's num_beams, max_length, bad_words_ids, ...), as transformers'
  // generate() starts from; callers override single fields from here.
  GenerationOptions default_options() const;
  // One result per source (token ids, EOS included as the tokenizer adds it):
  // the best hypothesis.
  std::vector<Generation> generate(const std::vector<std::vector<int64_t>>& sources, const GenerationOptions& options = {});
  // The n-best hypotheses of each source, best first (beam search; greedy gives one).
  std::vector<std::vector<Generation>> generate_n_best(const std::vector<std::vector<int64_t>>& sources,
                                                       const GenerationOptions& options = {});
  // For a model whose encoder reads tensors rather than tokens (a captioning
  // model: {"image": [N, 3, H, W]}): the n-best of each of the N items.
  std::vector<std::vector<Generation>> generate_n_best(const TensorMap& encoder_inputs, const GenerationOptions& options = {});
  // Many sources in batches of up to `batch_size` sources of similar length
  // (sorted by length, results back in input order); an empty source gives no
  // hypotheses. `progress(done, total)` is called after each batch.
  std::vector<std::vector<Generation>> generate_batched(
      const std::vector<std::vector<int64_t>>& sources, const GenerationOptions& options, int batch_size,
      const std::function<void(size_t, size_t)>& progress = {});
  // Per-node timings of the encoder and decoder graph runs (with profile on).
  Profile profile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed
