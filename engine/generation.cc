#include <heed/generate.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/candidates.h"
#include "engine/logits_processors.h"
#include "engine/step_model.h"

namespace heed {

namespace {
Tensor i64_tensor(const Shape& shape) { return Tensor::zeros(DType::i64, shape); }
}  // namespace

struct Generator::Impl {
  std::unique_ptr<detail::StepModel> model;
  int64_t vocab, pad, eos, start, forced_eos, max_pos;
  GenerationOptions defaults;  // heed's, with the model's generation_config.json applied
  std::vector<float> host_scores;  // a step's scores on the host, when logits processors run

  Impl(const Model& m, int threads, bool profile) : model(detail::StepModel::create(m, threads, profile)) {
    const detail::TokenIds& ids = model->ids();
    vocab = ids.vocab, pad = ids.pad, eos = ids.eos, start = ids.start, forced_eos = ids.forced_eos;
    max_pos = ids.max_positions;
    if (auto it = m.metadata().find("generation_config"); it != m.metadata().end())
      defaults = detail::options_from_generation_config(it->second, m.metadata().at("generation_config_path"), defaults);
  }

  // With logits processors active: the step's scores copied to the host and
  // processed there, row by row (`history(r)`: row r's decoder input ids); q
  // then reads them. Beam search processes log-probabilities, greedy the raw
  // logits, as transformers does. Returns the backend that scores them.
  template <typename History>
  const Backend& process(const Tensor& logits, CandidateQuery& q, const detail::LogitsProcessors& procs, bool beam,
                         History history) {
    const Backend& where = backend_for(logits.device());
    if (!procs.active()) return where;
    host_scores.resize(size_t(q.rows * vocab));
    where.copy_out(host_scores.data(), logits.data(), host_scores.size() * sizeof(float));
    if (beam) detail::log_softmax_rows(host_scores.data(), q.rows, vocab);
    for (int64_t r = 0; r < q.rows; ++r)
      if (!q.skip || !q.skip[r]) procs.apply(host_scores.data() + r * vocab, vocab, history(r));
    q.logits = host_scores.data();
    q.log_probs = beam;
    return cpu_backend();
  }

  // One step's scoring: transformers' logits processors (forced EOS at the last
  // step, EOS held back before min_new_tokens), by the backend holding the logits.
  CandidateQuery query(const Tensor& logits, int64_t rows, int64_t keep, int64_t t, int64_t steps,
                       const GenerationOptions& o) const {
    CandidateQuery q;
    q.logits = logits.data_as<float>();
    q.rows = rows, q.vocab = vocab, q.keep = keep;
    q.hold = t < o.min_new_tokens ? eos : -1;
    q.forced = forced_eos >= 0 && t == steps - 1 ? forced_eos : -1;
    if (logits.numel() != rows * vocab)
      throw Error(fmt::format("decoder_step logits have {} values, expected {} rows x {}", logits.numel(), rows, vocab));
    return q;
  }

  // A row's attention [rows, ..., S] averaged over the middle dims (heads), cut to the source's length.
  static std::vector<float> head_mean(const Tensor& attn, int64_t row, int64_t len) {
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

  std::vector<std::vector<Generation>> greedy(const detail::Sources& sources, const GenerationOptions& o) {
    const int64_t B = sources.size(), steps = steps_for(o);
    TensorMap in = model->prepare(sources, 1, steps), out;
    Tensor cur = i64_tensor({B, 1});
    std::fill(cur.data_as<int64_t>(), cur.data_as<int64_t>() + B, start);
    std::vector<std::vector<Generation>> res(static_cast<size_t>(B), std::vector<Generation>(1));
    std::vector<uint8_t> done(static_cast<size_t>(B), 0);
    std::vector<float> score(static_cast<size_t>(B));
    std::vector<int64_t> best(static_cast<size_t>(B));
    const detail::LogitsProcessors procs(o, eos);
    std::vector<int64_t> history;
    for (int64_t t = 0; t < steps && !std::all_of(done.begin(), done.end(), [](uint8_t d) { return d; }); ++t) {
      const Tensor& logits = model->step(in, out, cur, t);
      CandidateQuery q = query(logits, B, 1, t, steps, o);
      q.skip = done.data();
      process(logits, q, procs, false, [&](int64_t b) -> const std::vector<int64_t>& {
        history.assign(1, start);
        history.insert(history.end(), res[size_t(b)][0].tokens.begin(), res[size_t(b)][0].tokens.end());
        return history;
      }).best_candidates(q, score.data(), best.data());
      const Tensor attn = o.return_attention ? model->attention(out) : Tensor();
      for (int64_t b = 0; b < B; ++b) {
        if (done[size_t(b)]) {
          cur.data_as<int64_t>()[b] = pad;
          continue;
        }
        Generation& g = res[size_t(b)][0];
        g.tokens.push_back(best[size_t(b)]);
        g.score += score[size_t(b)];
        if (o.return_attention) g.attention.push_back(head_mean(attn, b, sources.length(b)));
        cur.data_as<int64_t>()[b] = best[size_t(b)];
        done[size_t(b)] = best[size_t(b)] == eos;
      }
    }
    return res;
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
    std::vector<int64_t> from(static_cast<size_t>(R)), index(static_cast<size_t>(R * keep));
    std::vector<float> base(static_cast<size_t>(R)), score(static_cast<size_t>(R * keep));
    const detail::LogitsProcessors procs(o, eos);
    std::vector<int64_t> history;
    for (int64_t t = 0; t < steps; ++t) {
      const Tensor& logits = model->step(in, out, cur, t);
      const int64_t cur_len = t + 1;  // transformers' cur_len: the start token and t generated tokens
      for (int64_t r = 0; r < R; ++r) base[size_t(r)] = running[size_t(r / K)][size_t(r % K)].score;
      CandidateQuery q = query(logits, R, keep, t, steps, o);
      q.base = base.data();
      process(logits, q, procs, true, [&](int64_t r) -> const std::vector<int64_t>& {
        const Hyp& h = running[size_t(r / K)][size_t(r % K)];
        history.assign(1, start);
        history.insert(history.end(), h.tokens.begin(), h.tokens.end());
        return history;
      }).best_candidates(q, score.data(), index.data());
      for (int64_t i = 0; i < R * keep; ++i)  // indices into the item's K x vocab scores
        row_best[size_t(i)] = {score[size_t(i)], (i / keep) % K * vocab + index[size_t(i)]};
      const Tensor attn = o.return_attention ? model->attention(out) : Tensor();
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
            h.attention.push_back(head_mean(attn, b * K + beam_i, sources.length(b)));
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
GenerationOptions Generator::default_options() const { return impl_->defaults; }
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
