#include <heed/limits.h>
#include <heed/translate.h>

#include <algorithm>
#include <string_view>

#include "engine/model_impl.h"
#include "loaders/marian_tokenizer.h"

namespace heed {

struct Translator::Impl {
  Model model;
  MarianTokenizer tokenizer;
  Generator generator;
  TranslatorOptions options;
  int64_t eos, max_source;

  Impl(Model m, const std::string& dir, const TranslatorOptions& o)
      : model(std::move(m)), tokenizer(dir), generator(model, o.threads, o.profile), options(o) {
    eos = std::stoll(model.metadata().at("eos_token_id"));
    auto limit = model.metadata().find("max_positions");  // Marian's positions; an LSTM has no limit of its own
    max_source = limit == model.metadata().end() ? limits().max_source_tokens : std::stoll(limit->second);
  }
};

Translator::Translator(const std::string& model_dir, const TranslatorOptions& options)
    : Translator(Model::load(model_dir, detail::load_on(options.device, options.precision)), model_dir, options) {}

Translator::Translator(const Model& model, const std::string& model_dir, const TranslatorOptions& options)
    : impl_(std::make_unique<Impl>(model, model_dir, options)) {}

Translator::~Translator() = default;
Translator::Translator(Translator&&) noexcept = default;
Translator& Translator::operator=(Translator&&) noexcept = default;

// `text` cut to at most `max_bytes`, at a UTF-8 character boundary.
static std::string_view first_bytes(const std::string& text, int64_t max_bytes) {
  if (int64_t(text.size()) <= max_bytes) return text;
  size_t end = size_t(std::max<int64_t>(max_bytes, 0));
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // inside a character
  return std::string_view(text).substr(0, end);
}

std::vector<int64_t> Translator::encode(const std::string& text, bool* truncated) const {
  // Tokenizing a megabyte line takes tens of seconds; no model reads that far.
  const std::string_view kept = first_bytes(text, limits().max_line_bytes);
  std::vector<int64_t> ids = impl_->tokenizer.encode(std::string(kept));
  const bool cut = int64_t(ids.size()) > impl_->max_source || kept.size() < text.size();
  if (int64_t(ids.size()) > impl_->max_source) {
    ids.resize(size_t(impl_->max_source - 1));
    ids.push_back(impl_->eos);
  }
  if (truncated) *truncated = cut;
  return ids;
}

std::string Translator::decode(const std::vector<int64_t>& ids) const { return impl_->tokenizer.decode(ids); }

std::vector<std::vector<Translation>> Translator::translate_n_best(const std::vector<std::string>& lines,
                                                                   const GenerationOptions& options) {
  std::vector<std::vector<int64_t>> sources(lines.size());
  std::vector<bool> truncated(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;  // stays empty
    bool cut = false;
    sources[i] = encode(lines[i], &cut);
    truncated[i] = cut;
  }
  auto generated = impl_->generator.generate_batched(sources, options, impl_->options.batch_size, impl_->options.progress);
  std::vector<std::vector<Translation>> out(lines.size());
  for (size_t i = 0; i < lines.size(); ++i)
    for (Generation& g : generated[i])
      out[i].push_back({impl_->tokenizer.decode(g.tokens), g.score, truncated[i], impl_->tokenizer.source_pieces(sources[i]),
                        impl_->tokenizer.pieces(g.tokens), std::move(g.attention)});
  return out;
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& lines) {
  return translate(lines, impl_->generator.default_options());
}

std::vector<std::vector<Translation>> Translator::translate_n_best(const std::vector<std::string>& lines) {
  return translate_n_best(lines, impl_->generator.default_options());
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& lines, const GenerationOptions& options) {
  std::vector<Translation> best;
  for (auto& n : translate_n_best(lines, options)) best.push_back(n.empty() ? Translation{} : std::move(n[0]));
  return best;
}

const Model& Translator::model() const { return impl_->model; }
Generator& Translator::generator() { return impl_->generator; }
Profile Translator::profile() const { return impl_->generator.profile(); }

}  // namespace heed
