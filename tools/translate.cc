// `heed translate MODEL_DIR`: translates lines from stdin (or --input) with a
// Marian checkpoint or heed LSTM seq2seq directory, one output line per input line.
#include <heed/generate.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "engine/model_impl.h"
#include "loaders/marian_tokenizer.h"
#include "tools/commands.h"
#include "viz/heatmap.h"

namespace heed::tools {
namespace {

struct TranslateArgs {
  std::string model, input, output, attention, trace;
  int beam = 1, batch = 32, threads = 0, max_new = 256, min_new = 0, n_best = 1;
  float length_penalty = 1.0f;
  bool profile = false, ids = false;  // ids: lines are token ids, no tokenizer
};

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream file;
  if (!path.empty()) {
    file.open(path);
    if (!file) throw Error(fmt::format("{}: cannot open", path));
  }
  std::istream& in = path.empty() ? std::cin : file;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// "12 7 33": token ids, EOS appended unless the line ends with it.
std::vector<int64_t> parse_ids(const std::string& line, size_t number, int64_t eos) {
  std::vector<int64_t> ids;
  std::istringstream in(line);
  for (std::string w; in >> w;) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(w, &used));
      if (used != w.size()) throw std::invalid_argument(w);
    } catch (const std::exception&) {
      throw Error(fmt::format("line {}: '{}' is not a token id (--ids expects integers)", number, w));
    }
  }
  if (!ids.empty() && ids.back() != eos) ids.push_back(eos);
  return ids;
}

void progress(size_t done, size_t total) {
  if (!isatty(2) || total < 2) return;
  int width = 40, filled = int(double(done) / double(total) * width);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(size_t(filled), '#').c_str(),
               std::string(size_t(width - filled), '.').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
}

void translate(const TranslateArgs& a) {
  if (a.beam < 1 || a.batch < 1 || a.max_new < 1 || a.n_best < 1 || a.n_best > a.beam)
    throw Error("--beam, --batch-size and --max-length must be >= 1, and --n-best between 1 and --beam");
  Model model = Model::load(a.model);
  std::unique_ptr<MarianTokenizer> tokenizer;
  if (!a.ids) tokenizer = std::make_unique<MarianTokenizer>(a.model);
  const int64_t eos = std::stoll(model.impl().metadata().at("eos_token_id"));
  Generator gen(model, a.threads, a.profile);
  std::vector<std::string> lines = read_lines(a.input);
  const auto& meta = model.impl().metadata();
  const auto limit = meta.find("max_positions");  // Marian's positions; the LSTM has no limit
  const int64_t max_src = limit == meta.end() ? std::numeric_limits<int64_t>::max() : std::stoll(limit->second);
  std::vector<std::vector<int64_t>> src(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    src[i] = a.ids ? parse_ids(lines[i], i + 1, eos) : tokenizer->encode(lines[i]);
    if (int64_t(src[i].size()) > max_src) {
      std::fprintf(stderr, "heed: warning: line %zu has %zu tokens; keeping the first %lld (the model's limit)\n", i + 1,
                   src[i].size(), static_cast<long long>(max_src));
      src[i].resize(size_t(max_src - 1));
      src[i].push_back(eos);
    }
  }
  // Translate in batches of similar length, then restore the input order.
  std::vector<size_t> order(lines.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return src[x].size() < src[y].size(); });
  GenerationOptions o;
  o.beam_size = a.beam;
  o.num_hypotheses = a.n_best;
  o.length_penalty = a.length_penalty;
  o.max_new_tokens = a.max_new;
  o.min_new_tokens = a.min_new;
  o.return_attention = !a.attention.empty();
  std::vector<std::vector<Generation>> results(lines.size());
  auto t0 = std::chrono::steady_clock::now();
  for (size_t at = 0; at < order.size(); at += size_t(a.batch)) {
    std::vector<std::vector<int64_t>> batch;
    std::vector<size_t> which;
    for (size_t k = at; k < std::min(order.size(), at + size_t(a.batch)); ++k)
      if (!lines[order[k]].empty()) {  // an empty line stays empty
        batch.push_back(src[order[k]]);
        which.push_back(order[k]);
      }
    auto out = gen.generate_n_best(batch, o);
    for (size_t k = 0; k < which.size(); ++k) results[which[k]] = std::move(out[k]);
    progress(std::min(order.size(), at + size_t(a.batch)), order.size());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ofstream file;
  if (!a.output.empty()) {
    file.open(a.output);
    if (!file) throw Error(fmt::format("{}: cannot open for writing", a.output));
  }
  std::ostream& out = a.output.empty() ? std::cout : file;
  size_t tokens = 0;
  for (const auto& hyps : results) {
    if (hyps.empty()) out << "\n";
    for (const Generation& g : hyps) {
      tokens += g.tokens.size();
      if (a.n_best > 1) out << fmt::format("{:.4f}\t", g.score);
      out << (a.ids ? fmt::format("{}", fmt::join(g.tokens, " ")) : tokenizer->decode(g.tokens)) << "\n";
    }
  }
  std::fprintf(stderr, "translated %zu lines: %zu target tokens in %.2f s, %.1f tokens/s\n", lines.size(), tokens,
               seconds, seconds > 0 ? double(tokens) / seconds : 0.0);
  if (!a.attention.empty() && tokenizer) {
    const MarianTokenizer& tok = *tokenizer;
    const bool marian = model.impl().metadata().at("architecture") == "marian";
    viz::HtmlSection section{marian ? "cross-attention of the last decoder layer, mean of the heads"
                                    : "the decoder's attention over the source", {}};
    for (size_t i = 0; i < results.size() && i < 50; ++i) {
      if (results[i].empty() || results[i][0].attention.empty()) continue;
      const Generation& g = results[i][0];
      viz::AttentionMap map{lines[i], int(g.tokens.size()), int(src[i].size()), {}, tok.pieces(g.tokens), tok.pieces(src[i])};
      for (const auto& row : g.attention) map.weights.insert(map.weights.end(), row.begin(), row.end());
      section.images.emplace_back(lines[i] + "  ->  " + tok.decode(g.tokens), viz::render_heatmap(map));
    }
    std::ofstream html(a.attention);
    html << viz::render_html("Where the model looked: " + a.model, {section});
    if (!html) throw Error(fmt::format("{}: cannot write", a.attention));
    std::fprintf(stderr, "attention heatmaps written to %s\n", a.attention.c_str());
  }
  if (a.profile) {
    Profile p = gen.profile();
    std::fprintf(stderr, "\n%s", p.table().c_str());
    if (!a.trace.empty()) p.write_chrome_trace(a.trace);
  }
}

}  // namespace

void add_translate(CLI::App& app) {
  auto a = std::make_shared<TranslateArgs>();
  auto* cmd = app.add_subcommand("translate", "Translate lines (stdin or --input) with a Marian or heed LSTM seq2seq model directory");
  cmd->add_option("MODEL_DIR", a->model, "config.json, model.safetensors, source.spm, target.spm, vocab.json")->required();
  cmd->add_option("--input", a->input, "read lines from this file instead of stdin");
  cmd->add_option("--output", a->output, "write translations here instead of stdout");
  cmd->add_option("--beam", a->beam, "beam size (1: greedy)");
  cmd->add_option("--n-best", a->n_best, "hypotheses per line, each as 'score<TAB>text' (at most --beam)");
  cmd->add_option("--length-penalty", a->length_penalty, "beam scores are log p / length^penalty (default 1)");
  cmd->add_option("--batch-size", a->batch, "sentences per batch (default 32)");
  cmd->add_option("--max-length", a->max_new, "most tokens generated per sentence (default 256)");
  cmd->add_option("--min-length", a->min_new, "EOS is held back before this many tokens (default 0)");
  cmd->add_flag("--ids", a->ids, "lines are space-separated token ids, and so is the output (no tokenizer)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_option("--attention", a->attention, "write cross-attention heatmaps (first 50 lines) to this HTML file");
  cmd->add_option("--profile", a->trace, "print per-op timings; with =FILE also write a Chrome trace")->expected(0, 1);
  cmd->callback([a, cmd] {
    a->profile = cmd->count("--profile") > 0;
    translate(*a);
  });
}

}  // namespace heed::tools
