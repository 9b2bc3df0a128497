#include "engine/logits_processors.h"

#include <heed/error.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "engine/fast_math.h"
#include "engine/json_text.h"

namespace heed::detail {

LogitsProcessors::LogitsProcessors(const GenerationOptions& o, int64_t eos)
    : penalty_(o.repetition_penalty), ngram_(o.no_repeat_ngram_size) {
  if (!(o.repetition_penalty > 0)) throw Error(fmt::format("repetition_penalty must be positive, got {}", o.repetition_penalty));
  if (o.no_repeat_ngram_size < 0) throw Error(fmt::format("no_repeat_ngram_size must be >= 0, got {}", o.no_repeat_ngram_size));
  for (const std::vector<int64_t>& seq : o.bad_words_ids) {
    if (seq.empty()) throw Error("bad_words_ids holds an empty sequence");
    if (seq.size() == 1 && seq[0] == eos) continue;  // transformers never bans EOS alone
    bad_words_.push_back(seq);
  }
}

void LogitsProcessors::apply(float* row, int64_t vocab, const std::vector<int64_t>& history) const {
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  auto ban = [&](int64_t token) {
    if (token >= 0 && token < vocab) row[token] = kBanned;
  };
  if (penalty_ != 1.f) {  // each distinct token once: lower its score, whatever its sign
    std::set<int64_t> seen(history.begin(), history.end());
    for (int64_t token : seen)
      if (token >= 0 && token < vocab) row[token] = row[token] < 0 ? row[token] * penalty_ : row[token] / penalty_;
  }
  const int64_t len = int64_t(history.size());
  if (ngram_ > 0 && len + 1 >= ngram_) {  // a token that would repeat an n-gram already in the history
    const int64_t n = ngram_;
    for (int64_t i = 0; i + n <= len; ++i)
      if (std::equal(history.begin() + i, history.begin() + i + n - 1, history.end() - (n - 1))) ban(history[size_t(i + n - 1)]);
  }
  for (const std::vector<int64_t>& seq : bad_words_) {
    const int64_t prefix = int64_t(seq.size()) - 1;
    if (prefix <= len && std::equal(seq.begin(), seq.end() - 1, history.end() - prefix)) ban(seq.back());
  }
}

// The same arithmetic as the scoring's own log-softmax (engine/candidates.cc):
// float, vectorized exp, rows in parallel (a beam step over an opus-mt
// vocabulary converts rows x 58k logits).
void log_softmax_rows(float* x, int64_t rows, int64_t vocab) {
#pragma omp parallel for if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* p = x + r * vocab;
    const float max = max_of(p, vocab);
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(p[v] - max);
    const float log_sum = std::log(sum);
#pragma omp simd
    for (int64_t v = 0; v < vocab; ++v) p[v] = (p[v] - max) - log_sum;
  }
}

namespace {

int64_t int_of(const nlohmann::json& j, const char* key, const std::string& source) {
  if (!j[key].is_number_integer()) throw Error(fmt::format("{}: '{}' must be an integer", source, key));
  const int64_t v = j[key].get<int64_t>();
  if (v < 0 || v > (int64_t(1) << 30)) throw Error(fmt::format("{}: '{}' is {}, out of range", source, key, v));
  return v;
}

}  // namespace

GenerationOptions options_from_generation_config(const std::string& text, const std::string& source,
                                                 GenerationOptions o) {
  const nlohmann::json j = parse_json_text(text, source, DuplicateKeys::last_wins);
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object", source));
  auto has = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  // Lengths count the decoder's start token in transformers (an encoder-decoder's
  // input_ids begin with it): max_length 512 is 511 new tokens.
  if (has("num_beams")) o.beam_size = int(std::max<int64_t>(1, int_of(j, "num_beams", source)));
  if (has("num_return_sequences")) o.num_hypotheses = int(std::max<int64_t>(1, int_of(j, "num_return_sequences", source)));
  if (has("max_length")) o.max_new_tokens = int(std::max<int64_t>(1, int_of(j, "max_length", source) - 1));
  if (has("max_new_tokens")) o.max_new_tokens = int(std::max<int64_t>(1, int_of(j, "max_new_tokens", source)));
  if (has("min_length")) o.min_new_tokens = int(std::max<int64_t>(0, int_of(j, "min_length", source) - 1));
  if (has("min_new_tokens")) o.min_new_tokens = int(int_of(j, "min_new_tokens", source));
  if (has("no_repeat_ngram_size")) o.no_repeat_ngram_size = int(int_of(j, "no_repeat_ngram_size", source));
  for (const char* key : {"length_penalty", "repetition_penalty"}) {
    if (!has(key)) continue;
    if (!j[key].is_number()) throw Error(fmt::format("{}: '{}' must be a number", source, key));
    (std::string(key) == "length_penalty" ? o.length_penalty : o.repetition_penalty) = j[key].get<float>();
  }
  if (has("bad_words_ids")) {
    const nlohmann::json& bad = j["bad_words_ids"];
    auto fail = [&] { throw Error(fmt::format("{}: 'bad_words_ids' must be a list of lists of token ids", source)); };
    if (!bad.is_array()) fail();
    o.bad_words_ids.clear();
    for (const nlohmann::json& seq : bad) {
      if (!seq.is_array() || seq.empty()) fail();
      std::vector<int64_t> ids;
      for (const nlohmann::json& id : seq) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0) fail();
        ids.push_back(id.get<int64_t>());
      }
      o.bad_words_ids.push_back(std::move(ids));
    }
  }
  return o;
}

}  // namespace heed::detail
