#pragma once
// Text in, text out: a translation model directory (Hugging Face Marian or heed
// LSTM seq2seq) with its tokenizer files (source.spm, target.spm, vocab.json),
// tokenized as transformers' MarianTokenizer does, generated with heed::Generator.
#include <heed/export.h>
#include <heed/generate.h>
#include <heed/model.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heed {

struct TranslatorOptions {
  int threads = 0;       // 0: all cores
  bool profile = false;  // per-op timings, read with profile()
  int batch_size = 32;   // sentences generated together (sorted by length)
  Device device = Device::cpu;  // where a model loaded from a directory runs
  std::function<void(size_t done, size_t total)> progress;  // after each batch, when set
  std::optional<Precision> precision;  // of a model loaded from a directory (LoadOptions::precision; unset: as stored)
};

struct Translation {
  std::string text;                             // detokenized, special tokens dropped
  float score = 0;                              // as Generation::score
  bool truncated = false;                       // the source was cut to the model's positions
  std::vector<std::string> source_pieces, target_pieces;  // SentencePiece pieces, </s> included
  std::vector<std::vector<float>> attention;    // [target piece][source piece], when asked
};

class HEED_API Translator {
 public:
  // Loads the model in `model_dir`.
  explicit Translator(const std::string& model_dir, const TranslatorOptions& options = {});
  // Shares a model already loaded from `model_dir` (one model, a translator per thread).
  Translator(const Model& model, const std::string& model_dir, const TranslatorOptions& options = {});
  ~Translator();
  Translator(Translator&&) noexcept;
  Translator& operator=(Translator&&) noexcept;

  // One translation per line (an empty line gives an empty translation), with
  // the model's generation config (generator().default_options()) or `options`.
  std::vector<Translation> translate(const std::vector<std::string>& lines);
  std::vector<Translation> translate(const std::vector<std::string>& lines, const GenerationOptions& options);
  // The options.num_hypotheses best per line, best first (beam search).
  std::vector<std::vector<Translation>> translate_n_best(const std::vector<std::string>& lines);
  std::vector<std::vector<Translation>> translate_n_best(const std::vector<std::string>& lines,
                                                         const GenerationOptions& options);

  // Token ids of a line (</s> appended), cut to the model's positions when longer.
  std::vector<int64_t> encode(const std::string& text, bool* truncated = nullptr) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  const Model& model() const;
  Generator& generator();
  Profile profile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed
