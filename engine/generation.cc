#include <heed/generate.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "engine/fast_math.h"
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
  Session encoder, cross_kv, step;
  int64_t layers, heads, head_dim, max_pos, vocab, pad, eos, start, forced_eos;

  Impl(const Model& m, int threads, bool profile)
      : encoder(m, {"encoder", threads, profile}),
        cross_kv(m, {"cross_kv", threads, profile}),
        step(m, {"decoder_step", threads, profile}) {
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

  // Runs the encoder and the cross-attention projections once per source, then
  // repeats their rows `copies` times (one per beam), and prepares the decoder-step
  // inputs: cross keys/values, the padding mask and empty caches of `steps` positions.
  TensorMap prepare(const std::vector<std::vector<int64_t>>& sources, int64_t copies, int64_t steps, int64_t* src_len) {
    const int64_t B = int64_t(sources.size());
    int64_t S = 0;
    for (const auto& s : sources) {
      if (s.empty()) throw Error("an empty source: every source needs at least its EOS token");
      S = std::max<int64_t>(S, int64_t(s.size()));
    }
    if (S > max_pos) throw Error(fmt::format("a source of {} tokens exceeds the model's {} positions", S, max_pos));
    *src_len = S;
    Tensor ids = i64_tensor({B, S}), positions = i64_tensor({S}), pad_mask = Tensor::zeros(DType::boolean, {B, S});
    for (int64_t b = 0; b < B; ++b) {
      const auto& src = sources[size_t(b)];
      for (int64_t j = 0; j < S; ++j) {
        bool real = j < int64_t(src.size());
        ids.data_as<int64_t>()[b * S + j] = real ? src[size_t(j)] : pad;
        pad_mask.data_as<uint8_t>()[b * S + j] = !real;
      }
    }
    for (int64_t j = 0; j < S; ++j) positions.data_as<int64_t>()[j] = j;
    TensorMap enc = encoder.run({{"input_ids", ids}, {"positions", positions}, {"src_pad", pad_mask}});
    TensorMap in = cross_kv.run({{"encoder_out", enc.at("encoder_out")}});
    in["src_pad"] = pad_mask;
    if (copies > 1)
      for (auto& [name, t] : in) t = repeat_rows(t, copies);
    for (int64_t l = 0; l < layers; ++l)
      for (const char* kv : {"k", "v"})
        in[fmt::format("cache_{}.{}", kv, l)] = Tensor::zeros(DType::f32, {B * copies, heads, steps, head_dim});
    return in;
  }

  // Each row of the first dim repeated `copies` times in place: [a, b] -> [a, a, b, b].
  static Tensor repeat_rows(const Tensor& t, int64_t copies) {
    Shape shape = t.shape();
    const int64_t rows = shape[0];
    shape[0] = rows * copies;
    Tensor out = Tensor::empty(t.dtype(), shape);
    const size_t row = t.nbytes() / size_t(rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < copies; ++c)
        std::memcpy(static_cast<char*>(out.data()) + size_t(r * copies + c) * row,
                    static_cast<const char*>(t.data()) + size_t(r) * row, row);
    return out;
  }

  // One decoder step for every row; returns the logits [rows, vocab].
  const float* run_step(TensorMap& in, TensorMap& out, const Tensor& tokens, int64_t t) {
    Tensor pos = i64_tensor({1}), fill = i64_tensor({});
    pos.data_as<int64_t>()[0] = t;
    fill.data_as<int64_t>()[0] = t;
    in["input_ids"] = tokens;
    in["positions"] = pos;
    in["position"] = fill;
    step.run(in, out);
    return out.at("logits").data_as<float>();
  }

  // log_softmax of a row after transformers' logits processors: forced EOS at the
  // last step, EOS held back before min_new_tokens.
  void processed_log_probs(const float* row, int64_t t, int64_t steps, const GenerationOptions& o, float* lp) const {
    const bool forced = forced_eos >= 0 && t == steps - 1, hold_eos = t < o.min_new_tokens;
    float max = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) max = std::max(max, row[v]);
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(row[v] - max);
    const float log_sum = std::log(sum) + max;
#pragma omp simd
    for (int64_t v = 0; v < vocab; ++v) lp[v] = row[v] - log_sum;
    if (hold_eos) lp[eos] = -INFINITY;
    if (forced)
      for (int64_t v = 0; v < vocab; ++v) lp[v] = v == forced_eos ? 0.f : -INFINITY;
  }

  std::vector<float> head_mean(const Tensor& attn, int64_t row, int64_t S, int64_t len) const {
    std::vector<float> w(size_t(len), 0.f);
    const float* p = attn.data_as<float>() + row * heads * S;  // [rows, H, 1, S]
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < len; ++j) w[size_t(j)] += p[h * S + j] / float(heads);
    return w;
  }

  int64_t steps_for(const GenerationOptions& o) const {
    if (o.max_new_tokens < 1) throw Error("max_new_tokens must be at least 1");
    return std::min<int64_t>(o.max_new_tokens, max_pos);
  }

  std::vector<std::vector<Generation>> greedy(const std::vector<std::vector<int64_t>>& sources, const GenerationOptions& o) {
    const int64_t B = int64_t(sources.size()), steps = steps_for(o);
    int64_t S = 0;
    TensorMap in = prepare(sources, 1, steps, &S), out;
    Tensor cur = i64_tensor({B, 1});
    std::fill(cur.data_as<int64_t>(), cur.data_as<int64_t>() + B, start);
    std::vector<std::vector<Generation>> res(static_cast<size_t>(B), std::vector<Generation>(1));
    std::vector<bool> done(static_cast<size_t>(B), false);
    std::vector<float> lp(static_cast<size_t>(vocab));
    for (int64_t t = 0; t < steps && !std::all_of(done.begin(), done.end(), [](bool d) { return d; }); ++t) {
      const float* logits = run_step(in, out, cur, t);
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) {
          cur.data_as<int64_t>()[b] = pad;
          continue;
        }
        processed_log_probs(logits + b * vocab, t, steps, o, lp.data());
        int64_t best = int64_t(std::max_element(lp.begin(), lp.end()) - lp.begin());  // the first maximum
        Generation& g = res[size_t(b)][0];
        g.tokens.push_back(best);
        g.score += lp[size_t(best)];
        if (o.return_attention) g.attention.push_back(head_mean(out.at("cross_attention"), b, S, int64_t(sources[size_t(b)].size())));
        cur.data_as<int64_t>()[b] = best;
        done[size_t(b)] = best == eos;
      }
    }
    return res;
  }

  struct Hyp {
    std::vector<int64_t> tokens;
    std::vector<std::vector<float>> attention;
    float score;  // running: sum of log-probs; finished: normalized
  };

  std::vector<std::vector<Generation>> beam(const std::vector<std::vector<int64_t>>& sources, const GenerationOptions& o) {
    const int64_t B = int64_t(sources.size()), K = o.beam_size, steps = steps_for(o), R = B * K;
    const int64_t keep = 2 * K;  // candidates kept per step, as transformers (max(2, 1 + #eos) * beams)
    int64_t S = 0;
    TensorMap in = prepare(sources, K, steps, &S), out;
    Tensor cur = i64_tensor({R, 1});
    std::fill(cur.data_as<int64_t>(), cur.data_as<int64_t>() + R, start);
    std::vector<std::vector<Hyp>> running(static_cast<size_t>(B)), finished(static_cast<size_t>(B));
    for (auto& r : running) {
      r.assign(size_t(K), Hyp{{}, {}, -1e9f});
      r[0].score = 0.f;
    }
    std::vector<bool> closed(static_cast<size_t>(B), false);
    std::vector<float> lp(static_cast<size_t>(R * vocab));
    std::vector<int64_t> order(static_cast<size_t>(K * vocab)), from(static_cast<size_t>(R));
    std::vector<float> scratch;
    for (int64_t t = 0; t < steps; ++t) {
      const float* logits = run_step(in, out, cur, t);
      const int64_t cur_len = t + 1;  // transformers' cur_len: the start token and t generated tokens
#pragma omp parallel for
      for (int64_t r = 0; r < R; ++r) {
        float* row = lp.data() + r * vocab;
        processed_log_probs(logits + r * vocab, t, steps, o, row);
        const float base = running[size_t(r / K)][size_t(r % K)].score;
        for (int64_t v = 0; v < vocab; ++v) row[v] += base;
      }
      bool any_open = false;
      for (int64_t b = 0; b < B; ++b) {
        std::vector<Hyp>& run = running[size_t(b)];
        const float* item_lp = lp.data() + b * K * vocab;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t x, int64_t y) {
          return item_lp[x] != item_lp[y] ? item_lp[x] > item_lp[y] : x < y;
        });
        const bool last = cur_len + 1 >= steps + 1;  // max length reached: every candidate stops
        std::vector<Hyp> next;
        std::vector<int64_t> next_from;
        const float norm = std::pow(float(cur_len), o.length_penalty);
        for (int64_t c = 0; c < keep; ++c) {
          int64_t beam_i = order[size_t(c)] / vocab, token = order[size_t(c)] % vocab;
          float score = item_lp[order[size_t(c)]];
          bool stops = token == eos || last;
          Hyp h{run[size_t(beam_i)].tokens, run[size_t(beam_i)].attention, score};
          h.tokens.push_back(token);
          if (o.return_attention)
            h.attention.push_back(head_mean(out.at("cross_attention"), b * K + beam_i, S, int64_t(sources[size_t(b)].size())));
          if (stops) {
            // Only the top `beam` candidates may finish, and only while it can still matter.
            if (c < K && !closed[size_t(b)] && score > -1e8f) add_finished(finished[size_t(b)], std::move(h), score / norm, K);
          } else if (int64_t(next.size()) < K) {
            next.push_back(std::move(h));
            next_from.push_back(b * K + beam_i);
          }
        }
        for (int64_t i = int64_t(next.size()); i < K; ++i) {  // too few live candidates: pad with dead beams
          next.push_back(Hyp{run[0].tokens, run[0].attention, -1e9f});
          next.back().tokens.push_back(pad);
          next_from.push_back(b * K);
        }
        run = std::move(next);
        for (int64_t i = 0; i < K; ++i) {
          from[size_t(b * K + i)] = next_from[size_t(i)];
          cur.data_as<int64_t>()[b * K + i] = run[size_t(i)].tokens.back();
        }
        // transformers' early-stop heuristic: done once every slot is finished and
        // the best running beam cannot beat the worst finished one.
        const std::vector<Hyp>& fin = finished[size_t(b)];
        if (!closed[size_t(b)] && int64_t(fin.size()) == K) {
          float worst = fin.back().score, best_running = run[0].score / std::pow(float(cur_len), o.length_penalty);
          closed[size_t(b)] = !(best_running > worst);
        }
        any_open |= !closed[size_t(b)] && !last;
      }
      if (!any_open) break;
      const int64_t used = (t + 1) * head_dim * int64_t(sizeof(float));
      for (int64_t l = 0; l < layers; ++l)
        for (const char* kv : {"k", "v"}) reorder_cache(in.at(fmt::format("cache_{}.{}", kv, l)), from, used, scratch);
    }
    std::vector<std::vector<Generation>> res(static_cast<size_t>(B));
    const int64_t n = std::clamp<int64_t>(o.num_hypotheses, 1, K);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < n && i < int64_t(finished[size_t(b)].size()); ++i) {
        Hyp& h = finished[size_t(b)][size_t(i)];
        res[size_t(b)].push_back({std::move(h.tokens), h.score, std::move(h.attention)});
      }
    return res;
  }

  // Keeps the best `k` finished hypotheses, best first; earlier ones win ties.
  static void add_finished(std::vector<Hyp>& fin, Hyp h, float score, int64_t k) {
    h.score = score;
    auto at = std::upper_bound(fin.begin(), fin.end(), score, [](float s, const Hyp& x) { return s > x.score; });
    fin.insert(at, std::move(h));
    if (int64_t(fin.size()) > k) fin.pop_back();
  }

  // cache[row] = cache[from[row]] over each row's filled positions: the rows that
  // change are staged in `scratch` first, so a source is read before it is overwritten.
  void reorder_cache(Tensor& cache, const std::vector<int64_t>& from, int64_t used_bytes_per_head, std::vector<float>& scratch) {
    const int64_t rows = cache.shape()[0], per_head = cache.shape()[2] * cache.shape()[3] * int64_t(sizeof(float));
    const size_t used = size_t(used_bytes_per_head), staged_row = size_t(heads) * used;
    scratch.resize(size_t(rows) * staged_row / sizeof(float) + 1);
    char* base = static_cast<char*>(cache.data());
    char* stage = reinterpret_cast<char*>(scratch.data());
    for (int64_t r = 0; r < rows; ++r)
      if (from[size_t(r)] != r)
        for (int64_t h = 0; h < heads; ++h)
          std::memcpy(stage + size_t(r) * staged_row + size_t(h) * used, base + (from[size_t(r)] * heads + h) * per_head, used);
    for (int64_t r = 0; r < rows; ++r)
      if (from[size_t(r)] != r)
        for (int64_t h = 0; h < heads; ++h)
          std::memcpy(base + (r * heads + h) * per_head, stage + size_t(r) * staged_row + size_t(h) * used, used);
  }
};

Generator::Generator(const Model& model, int threads, bool profile)
    : impl_(std::make_unique<Impl>(model, threads, profile)) {}

Profile Generator::profile() const {
  Profile all;
  for (const Session* s : {&impl_->encoder, &impl_->cross_kv, &impl_->step}) {
    Profile p = s->profile();
    int offset = int(all.nodes.size());
    all.nodes.insert(all.nodes.end(), p.nodes.begin(), p.nodes.end());
    for (TraceEvent e : p.events) {
      e.node_index += offset;
      all.events.push_back(e);
    }
    all.runs += p.runs;
    all.run_total_us += p.run_total_us;
  }
  return all;
}
Generator::~Generator() = default;

std::vector<std::vector<Generation>> Generator::generate_n_best(const std::vector<std::vector<int64_t>>& sources,
                                                                const GenerationOptions& options) {
  if (sources.empty()) return {};
  if (options.beam_size < 1) throw Error(fmt::format("beam size must be at least 1, got {}", options.beam_size));
  return options.beam_size == 1 ? impl_->greedy(sources, options) : impl_->beam(sources, options);
}

std::vector<Generation> Generator::generate(const std::vector<std::vector<int64_t>>& sources,
                                            const GenerationOptions& options) {
  std::vector<Generation> best;
  for (auto& n : generate_n_best(sources, options)) best.push_back(n.empty() ? Generation{} : std::move(n[0]));
  return best;
}

}  // namespace heed
