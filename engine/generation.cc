#include <heed/generate.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <omp.h>

#include <fmt/format.h>

#include "engine/fast_math.h"
#include "engine/step_model.h"

namespace heed {

namespace {
Tensor i64_tensor(const Shape& shape) { return Tensor::zeros(DType::i64, shape); }
}  // namespace

struct Generator::Impl {
  std::unique_ptr<detail::StepModel> model;
  int64_t vocab, pad, eos, start, forced_eos, max_pos;

  Impl(const Model& m, int threads, bool profile) : model(detail::StepModel::create(m, threads, profile)) {
    const detail::TokenIds& ids = model->ids();
    vocab = ids.vocab, pad = ids.pad, eos = ids.eos, start = ids.start, forced_eos = ids.forced_eos;
    max_pos = ids.max_positions;
  }

  // log_softmax of a row after transformers' logits processors: forced EOS at the
  // last step, EOS held back before min_new_tokens.
  // Plus `base` (a beam's running score), added as transformers does: (logit - lse) + base.
  void processed_log_probs(const float* row, int64_t t, int64_t steps, const GenerationOptions& o, float* lp,
                           float base = 0.f) const {
    const bool forced = forced_eos >= 0 && t == steps - 1, hold_eos = t < o.min_new_tokens;
    float max = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) max = std::max(max, row[v]);
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < vocab; ++v) sum += exp_approx(row[v] - max);
    const float log_sum = std::log(sum) + max;
#pragma omp simd
    for (int64_t v = 0; v < vocab; ++v) lp[v] = (row[v] - log_sum) + base;
    if (hold_eos) lp[eos] = -INFINITY;
    if (forced)
      for (int64_t v = 0; v < vocab; ++v) lp[v] = v == forced_eos ? base : -INFINITY;
  }

  // A row's attention [rows, ..., S] averaged over the middle dims (heads), cut to the source's length.
  std::vector<float> head_mean(const TensorMap& out, int64_t row, int64_t len) const {
    const Tensor& attn = model->attention(out);
    const int64_t rows = attn.shape()[0], S = attn.shape()[attn.shape().rank() - 1];
    len = std::min(len, S);
    const int64_t heads = attn.shape().numel() / (rows * S);
    std::vector<float> w(size_t(len), 0.f);
    const float* p = attn.data_as<float>() + row * heads * S;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < len; ++j) w[size_t(j)] += p[h * S + j] / float(heads);
    return w;
  }

  int64_t steps_for(const GenerationOptions& o) const {
    if (o.max_new_tokens < 1) throw Error("max_new_tokens must be at least 1");
    return std::min<int64_t>(o.max_new_tokens, max_pos);
  }

  struct Candidate {
    float score;
    int64_t index;
    // transformers' order: higher score first, then the lower index
    static bool better(const Candidate& x, const Candidate& y) {
      return x.score != y.score ? x.score > y.score : x.index < y.index;
    }
  };

  std::vector<std::vector<Generation>> greedy(const detail::Sources& sources, const GenerationOptions& o) {
    const int64_t B = sources.size(), steps = steps_for(o);
    TensorMap in = model->prepare(sources, 1, steps), out;
    Tensor cur = i64_tensor({B, 1});
    std::fill(cur.data_as<int64_t>(), cur.data_as<int64_t>() + B, start);
    std::vector<std::vector<Generation>> res(static_cast<size_t>(B), std::vector<Generation>(1));
    std::vector<uint8_t> done(static_cast<size_t>(B), 0);
    std::vector<Candidate> chosen(static_cast<size_t>(B));
    std::vector<std::vector<float>> lp_rows(static_cast<size_t>(omp_get_max_threads()), std::vector<float>(size_t(vocab)));
    for (int64_t t = 0; t < steps && !std::all_of(done.begin(), done.end(), [](uint8_t d) { return d; }); ++t) {
      const float* logits = model->step(in, out, cur, t);
#pragma omp parallel for if (B > 1)
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) continue;
        std::vector<float>& lp = lp_rows[size_t(omp_get_thread_num())];
        processed_log_probs(logits + b * vocab, t, steps, o, lp.data());
        int64_t best = int64_t(std::max_element(lp.begin(), lp.end()) - lp.begin());  // the first maximum
        chosen[size_t(b)] = {lp[size_t(best)], best};
      }
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) {
          cur.data_as<int64_t>()[b] = pad;
          continue;
        }
        const int64_t best = chosen[size_t(b)].index;
        Generation& g = res[size_t(b)][0];
        g.tokens.push_back(best);
        g.score += chosen[size_t(b)].score;
        if (o.return_attention) g.attention.push_back(head_mean(out, b, sources.length(b)));
        cur.data_as<int64_t>()[b] = best;
        done[size_t(b)] = best == eos;
      }
    }
    return res;
  }

  // The `keep` best of row[0, vocab) as candidates (index offset by `first`), best first.
  void best_of_row(const float* row, int64_t first, Candidate* best, int64_t keep) const {
    std::fill(best, best + keep, Candidate{-INFINITY, std::numeric_limits<int64_t>::max()});
    constexpr int64_t kBlock = 64;  // blocks whose maximum cannot enter the list are skipped (vectorized)
    for (int64_t start = 0; start < vocab; start += kBlock) {
      const int64_t end = std::min(start + kBlock, vocab);
      float block_max = -INFINITY;
#pragma omp simd reduction(max : block_max)
      for (int64_t v = start; v < end; ++v) block_max = std::max(block_max, row[v]);
      if (block_max < best[keep - 1].score) continue;
      for (int64_t v = start; v < end; ++v) {
        Candidate c{row[v], first + v};
        if (!Candidate::better(c, best[keep - 1])) continue;
        int64_t at = keep - 1;
        for (; at > 0 && Candidate::better(c, best[at - 1]); --at) best[at] = best[at - 1];
        best[at] = c;
      }
    }
  }

  struct Hyp {
    std::vector<int64_t> tokens;
    std::vector<std::vector<float>> attention;
    float score;  // running: sum of log-probs; finished: normalized
  };

  std::vector<std::vector<Generation>> beam(const detail::Sources& sources, const GenerationOptions& o) {
    const int64_t B = sources.size(), K = o.beam_size, steps = steps_for(o), R = B * K;
    const int64_t keep = 2 * K;  // candidates kept per step, as transformers (max(2, 1 + #eos) * beams)
    TensorMap in = model->prepare(sources, K, steps), out;
    Tensor cur = i64_tensor({R, 1});
    std::fill(cur.data_as<int64_t>(), cur.data_as<int64_t>() + R, start);
    std::vector<std::vector<Hyp>> running(static_cast<size_t>(B)), finished(static_cast<size_t>(B));
    for (auto& r : running) {
      r.assign(size_t(K), Hyp{{}, {}, -1e9f});
      r[0].score = 0.f;
    }
    std::vector<bool> closed(static_cast<size_t>(B), false);
    // Per row, its best `keep` candidates (score, index into the item's K x vocab
    // scores): the item's best `keep` are among them, so no K x vocab sort is needed.
    std::vector<Candidate> row_best(static_cast<size_t>(R * keep)), order;
    std::vector<int64_t> from(static_cast<size_t>(R));
    std::vector<std::vector<float>> lp_rows(static_cast<size_t>(omp_get_max_threads()), std::vector<float>(size_t(vocab)));
    for (int64_t t = 0; t < steps; ++t) {
      const float* logits = model->step(in, out, cur, t);
      const int64_t cur_len = t + 1;  // transformers' cur_len: the start token and t generated tokens
#pragma omp parallel for
      for (int64_t r = 0; r < R; ++r) {
        float* row = lp_rows[size_t(omp_get_thread_num())].data();
        processed_log_probs(logits + r * vocab, t, steps, o, row, running[size_t(r / K)][size_t(r % K)].score);
        best_of_row(row, (r % K) * vocab, row_best.data() + r * keep, keep);
      }
      bool any_open = false;
      for (int64_t b = 0; b < B; ++b) {
        std::vector<Hyp>& run = running[size_t(b)];
        order.assign(row_best.begin() + b * K * keep, row_best.begin() + (b + 1) * K * keep);
        std::partial_sort(order.begin(), order.begin() + keep, order.end(), Candidate::better);
        const bool last = cur_len + 1 >= steps + 1;  // max length reached: every candidate stops
        std::vector<Hyp> next;
        std::vector<int64_t> next_from;
        const float norm = std::pow(float(cur_len), o.length_penalty);
        for (int64_t c = 0; c < keep; ++c) {
          int64_t beam_i = order[size_t(c)].index / vocab, token = order[size_t(c)].index % vocab;
          float score = order[size_t(c)].score;
          bool stops = token == eos || last;
          Hyp h{run[size_t(beam_i)].tokens, run[size_t(beam_i)].attention, score};
          h.tokens.push_back(token);
          if (o.return_attention)
            h.attention.push_back(head_mean(out, b * K + beam_i, sources.length(b)));
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
      model->reorder(in, from, t);
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
  std::vector<std::vector<Generation>> run(const detail::Sources& sources, const GenerationOptions& o) {
    if (sources.size() == 0) return {};
    if (o.beam_size < 1) throw Error(fmt::format("beam size must be at least 1, got {}", o.beam_size));
    return o.beam_size == 1 ? greedy(sources, o) : beam(sources, o);
  }

  static void add_finished(std::vector<Hyp>& fin, Hyp h, float score, int64_t k) {
    h.score = score;
    auto at = std::upper_bound(fin.begin(), fin.end(), score, [](float s, const Hyp& x) { return s > x.score; });
    fin.insert(at, std::move(h));
    if (int64_t(fin.size()) > k) fin.pop_back();
  }

};

Generator::Generator(const Model& model, int threads, bool profile)
    : impl_(std::make_unique<Impl>(model, threads, profile)) {}

Profile Generator::profile() const { return impl_->model->profile(); }
Generator::~Generator() = default;

std::vector<std::vector<Generation>> Generator::generate_n_best(const std::vector<std::vector<int64_t>>& sources,
                                                                const GenerationOptions& options) {
  return impl_->run(detail::Sources{sources, {}}, options);
}

std::vector<std::vector<Generation>> Generator::generate_n_best(const TensorMap& encoder_inputs, const GenerationOptions& options) {
  if (encoder_inputs.empty()) throw Error("no encoder inputs given");
  return impl_->run(detail::Sources{{}, encoder_inputs}, options);
}

std::vector<std::vector<Generation>> Generator::generate_batched(const std::vector<std::vector<int64_t>>& sources,
                                                                 const GenerationOptions& options, int batch_size,
                                                                 const std::function<void(size_t, size_t)>& progress) {
  if (batch_size < 1) throw Error(fmt::format("batch size must be at least 1, got {}", batch_size));
  std::vector<size_t> order;
  for (size_t i = 0; i < sources.size(); ++i)
    if (!sources[i].empty()) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return sources[x].size() < sources[y].size(); });
  std::vector<std::vector<Generation>> results(sources.size());
  for (size_t at = 0; at < order.size(); at += size_t(batch_size)) {
    const size_t end = std::min(order.size(), at + size_t(batch_size));
    std::vector<std::vector<int64_t>> batch;
    for (size_t k = at; k < end; ++k) batch.push_back(sources[order[k]]);
    auto out = generate_n_best(batch, options);
    for (size_t k = at; k < end; ++k) results[order[k]] = std::move(out[k - at]);
    if (progress) progress(end, order.size());
  }
  return results;
}

std::vector<Generation> Generator::generate(const std::vector<std::vector<int64_t>>& sources,
                                            const GenerationOptions& options) {
  std::vector<Generation> best;
  for (auto& n : generate_n_best(sources, options)) best.push_back(n.empty() ? Generation{} : std::move(n[0]));
  return best;
}

}  // namespace heed
