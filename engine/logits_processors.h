#pragma once
// transformers' logits processors that depend on what a row has generated so
// far: NoBadWords (bad_words_ids), RepetitionPenalty and NoRepeatNGram, applied
// on the host to one row's scores. Greedy search applies them to the raw
// logits, beam search to the log-probabilities, as transformers' generate() does.
#include <heed/generate.h>

#include <cstdint>
#include <vector>

namespace heed::detail {

class LogitsProcessors {
 public:
  LogitsProcessors(const GenerationOptions& options, int64_t eos);
  bool active() const { return !bad_words_.empty() || penalty_ != 1.f || ngram_ > 0; }
  // `history`: the decoder's input ids so far, the start token first.
  void apply(float* row, int64_t vocab, const std::vector<int64_t>& history) const;

 private:
  std::vector<std::vector<int64_t>> bad_words_;
  float penalty_;
  int64_t ngram_;
};

// Each row of x [rows, vocab] replaced by its log-softmax (a NaN row stays NaN).
void log_softmax_rows(float* x, int64_t rows, int64_t vocab);

// Options from a model's generation_config.json text (transformers' keys:
// num_beams, max_length, max_new_tokens, min_length, min_new_tokens,
// length_penalty, bad_words_ids, repetition_penalty, no_repeat_ngram_size,
// num_return_sequences) over `defaults`; `source` names the file in errors.
GenerationOptions options_from_generation_config(const std::string& text, const std::string& source,
                                                 GenerationOptions defaults);

}  // namespace heed::detail
