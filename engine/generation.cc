#include <heed/generate.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "engine/model_impl.h"

namespace heed {

namespace {

int64_t meta_int(const detail::ModelImpl& m, const std::string& key) {
  auto it = m.metadata().find(key);
  if (it == m.metadata().end())
    throw Error(fmt::format("{}: not a generation model (no '{}'; import a Marian checkpoint directory)", m.path(), key));
  return std::stoll(it->second);
}

Tensor i64_tensor(const Shape& shape) { return Tensor::zeros(DType::i64, shape); }

}  // namespace

struct Generator::Impl {
  const Model& model;
  Session encoder, cross_kv, step;
  int64_t layers, heads, head_dim, max_pos, vocab, pad, eos, start, forced_eos;

  Impl(const Model& m, int threads)
      : model(m),
        encoder(m, {"encoder", threads}),
        cross_kv(m, {"cross_kv", threads}),
        step(m, {"decoder_step", threads}) {
    const auto& impl = m.impl();
    layers = meta_int(impl, "decoder_layers");
    heads = meta_int(impl, "decoder_heads");
    head_dim = meta_int(impl, "head_dim");
    max_pos = meta_int(impl, "max_positions");
    vocab = meta_int(impl, "vocab_size");
    pad = meta_int(impl, "pad_token_id");
    eos = meta_int(impl, "eos_token_id");
    start = meta_int(impl, "decoder_start_token_id");
    forced_eos = meta_int(impl, "forced_eos_token_id");
  }

  std::vector<Generation> greedy(const std::vector<std::vector<int64_t>>& sources, const GenerationOptions& o) {
    const int64_t B = int64_t(sources.size());
    if (B == 0) return {};
    int64_t S = 0;
    for (const auto& s : sources) {
      if (s.empty()) throw Error("an empty source: every source needs at least its EOS token");
      S = std::max<int64_t>(S, int64_t(s.size()));
    }
    if (S > max_pos) throw Error(fmt::format("a source of {} tokens exceeds the model's {} positions", S, max_pos));
    const int64_t steps = std::min<int64_t>(o.max_new_tokens, max_pos);
    if (steps < 1) throw Error("max_new_tokens must be at least 1");
    // Encoder inputs: padded ids, positions, the padding mask.
    Tensor ids = i64_tensor({B, S}), positions = i64_tensor({S}), pad_mask = Tensor::zeros(DType::boolean, {B, S});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < S; ++j) {
        bool real = j < int64_t(sources[size_t(b)].size());
        ids.data_as<int64_t>()[b * S + j] = real ? sources[size_t(b)][size_t(j)] : pad;
        pad_mask.data_as<uint8_t>()[b * S + j] = !real;
      }
    for (int64_t j = 0; j < S; ++j) positions.data_as<int64_t>()[j] = j;
    TensorMap enc = encoder.run({{"input_ids", ids}, {"positions", positions}, {"src_pad", pad_mask}});
    TensorMap in = cross_kv.run({{"encoder_out", enc.at("encoder_out")}});
    for (int64_t l = 0; l < layers; ++l)
      for (const char* kv : {"k", "v"})
        in[fmt::format("cache_{}.{}", kv, l)] = Tensor::zeros(DType::f32, {B, heads, steps, head_dim});
    in["src_pad"] = pad_mask;
    Tensor cur = i64_tensor({B, 1}), pos = i64_tensor({1}), fill = i64_tensor({});
    for (int64_t b = 0; b < B; ++b) cur.data_as<int64_t>()[b] = start;
    std::vector<Generation> out(static_cast<size_t>(B));
    std::vector<bool> done(static_cast<size_t>(B), false);
    TensorMap result;
    for (int64_t t = 0; t < steps; ++t) {
      pos.data_as<int64_t>()[0] = t;
      fill.data_as<int64_t>()[0] = t;
      in["input_ids"] = cur;
      in["positions"] = pos;
      in["position"] = fill;
      step.run(in, result);
      const float* logits = result.at("logits").data_as<float>();
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) {
          cur.data_as<int64_t>()[b] = pad;
          continue;
        }
        const float* row = logits + b * vocab;
        int64_t best = pick(row, t, steps, o);
        Generation& g = out[size_t(b)];
        g.tokens.push_back(best);
        g.score += log_prob(row, best, t, steps, o);
        if (o.return_attention) g.attention.push_back(head_mean(result.at("cross_attention"), b, S, int64_t(sources[size_t(b)].size())));
        cur.data_as<int64_t>()[b] = best;
        done[size_t(b)] = best == eos;
      }
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    }
    return out;
  }

  // Argmax (the first maximum, as torch.argmax), with EOS held back before
  // min_new_tokens and forced at the last step when the model asks for it.
  int64_t pick(const float* row, int64_t t, int64_t steps, const GenerationOptions& o) const {
    if (forced_eos >= 0 && t == steps - 1) return forced_eos;
    int64_t best = -1;
    for (int64_t v = 0; v < vocab; ++v) {
      if (v == eos && t < o.min_new_tokens) continue;
      if (best < 0 || row[v] > row[best]) best = v;
    }
    return best;
  }

  // The token's log-probability under the distribution the choice was made from,
  // as transformers reports it: a forced token has probability 1, a held-back
  // EOS probability 0.
  float log_prob(const float* row, int64_t v, int64_t t, int64_t steps, const GenerationOptions& o) const {
    if (forced_eos >= 0 && t == steps - 1) return 0.f;
    bool hold_eos = t < o.min_new_tokens;
    float max = -INFINITY;
    for (int64_t i = 0; i < vocab; ++i)
      if (!(hold_eos && i == eos)) max = std::max(max, row[i]);
    double sum = 0;
    for (int64_t i = 0; i < vocab; ++i)
      if (!(hold_eos && i == eos)) sum += std::exp(double(row[i] - max));
    return float(double(row[v] - max) - std::log(sum));
  }

  std::vector<float> head_mean(const Tensor& attn, int64_t b, int64_t S, int64_t len) const {
    std::vector<float> w(size_t(len), 0.f);
    const float* p = attn.data_as<float>() + b * heads * S;  // [B, H, 1, S]
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < len; ++j) w[size_t(j)] += p[h * S + j] / float(heads);
    return w;
  }
};

Generator::Generator(const Model& model, int threads) : impl_(std::make_unique<Impl>(model, threads)) {}
Generator::~Generator() = default;

std::vector<Generation> Generator::generate(const std::vector<std::vector<int64_t>>& sources,
                                            const GenerationOptions& options) {
  return impl_->greedy(sources, options);
}

}  // namespace heed
