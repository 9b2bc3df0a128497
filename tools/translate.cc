// `heed translate MODEL_DIR`: translates lines from stdin (or --input) with a
// Marian checkpoint or heed LSTM seq2seq directory, one output line per input line.
#include <heed/generate.h>
#include <heed/translate.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "engine/file_io.h"
#include "engine/model_impl.h"
#include "tools/commands.h"
#include "viz/heatmap.h"

namespace heed::tools {
namespace {

struct TranslateArgs {
  std::string model, input, output, attention, trace;
  int beam = 1, batch = 32, threads = 0, max_new = 256, min_new = 0, n_best = 1;
  float length_penalty = 1.0f, repetition_penalty = 1.0f;
  int no_repeat_ngram = 0;
  bool profile = false, ids = false;  // ids: lines are token ids, no tokenizer
  std::set<std::string> given;        // options on the command line: they override the model's generation config
  Device device = Device::cpu;
  DType gemm_dtype = DType::f32;
  std::optional<Precision> precision;  // unset: as the model stores its weights
};

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream file(path.empty() ? std::string() : read_text_file(path));
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

// The model's generation config (Generator::default_options), each option given
// on the command line overriding its field.
GenerationOptions generation_options(const TranslateArgs& a, const Generator& gen) {
  GenerationOptions o = gen.default_options();
  auto given = [&](const char* flag) { return a.given.count(flag) > 0; };
  if (given("--beam")) o.beam_size = a.beam;
  if (given("--n-best")) o.num_hypotheses = a.n_best;
  if (given("--length-penalty")) o.length_penalty = a.length_penalty;
  if (given("--max-length")) o.max_new_tokens = a.max_new;
  if (given("--min-length")) o.min_new_tokens = a.min_new;
  if (given("--repetition-penalty")) o.repetition_penalty = a.repetition_penalty;
  if (given("--no-repeat-ngram-size")) o.no_repeat_ngram_size = a.no_repeat_ngram;
  o.num_hypotheses = std::min(o.num_hypotheses, o.beam_size);
  o.return_attention = !a.attention.empty();
  return o;
}

// --ids: token ids in and out, no tokenizer (a line longer than the model's
// positions is an error here).
std::vector<std::vector<Translation>> translate_ids(Generator& gen, const Model& model, const std::vector<std::string>& lines,
                                                    const TranslateArgs& a) {
  const int64_t eos = std::stoll(model.metadata().at("eos_token_id"));
  std::vector<std::vector<int64_t>> src(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) src[i] = parse_ids(lines[i], i + 1, eos);
  auto generated = gen.generate_batched(src, generation_options(a, gen), a.batch, print_progress);
  std::vector<std::vector<Translation>> out(lines.size());
  for (size_t i = 0; i < lines.size(); ++i)
    for (const Generation& g : generated[i])
      out[i].push_back({fmt::format("{}", fmt::join(g.tokens, " ")), g.score, false, {},
                        std::vector<std::string>(g.tokens.size())});  // no tokenizer: one empty piece per token
  return out;
}

void write_attention_html(const std::vector<std::string>& lines, const std::vector<std::vector<Translation>>& results,
                          const Model& model, const TranslateArgs& a) {
  const bool marian = model.metadata().at("architecture") == "marian";
  viz::HtmlSection section{marian ? "cross-attention of the last decoder layer, mean of the heads"
                                  : "the decoder's attention over the source", {}};
  for (size_t i = 0; i < results.size() && i < 50; ++i) {
    if (results[i].empty() || results[i][0].attention.empty()) continue;
    const Translation& t = results[i][0];
    viz::AttentionMap map = viz::attention_map(lines[i], t.attention, int(t.source_pieces.size()), t.target_pieces, t.source_pieces);
    section.images.emplace_back(lines[i] + "  ->  " + t.text, viz::render_heatmap(map));
  }
  write_html_page(a.attention, "Where the model looked: " + a.model, {section}, "attention heatmaps");
}

void translate(const TranslateArgs& a) {
  if (a.beam < 1 || a.batch < 1 || a.max_new < 1 || a.n_best < 1 || (a.given.count("--beam") && a.n_best > a.beam))
    throw Error("--beam, --batch-size and --max-length must be >= 1, and --n-best between 1 and --beam");
  LoadOptions lo;
  lo.device = a.device;
  lo.gemm_dtype = a.gemm_dtype;
  lo.precision = a.precision;
  Model model = Model::load(a.model, lo);
  std::unique_ptr<Translator> translator;
  std::unique_ptr<Generator> id_generator;
  if (a.ids)
    id_generator = std::make_unique<Generator>(model, a.threads, a.profile);
  else
    translator = std::make_unique<Translator>(model, a.model, TranslatorOptions{a.threads, a.profile, a.batch, a.device, print_progress});
  std::vector<std::string> lines = read_lines(a.input);
  auto t0 = std::chrono::steady_clock::now();
  auto results = a.ids ? translate_ids(*id_generator, model, lines, a) : translator->translate_n_best(lines, generation_options(a, translator->generator()));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream file;  // --output is written whole at the end (atomically), never half
  std::ostream& out = a.output.empty() ? std::cout : file;
  size_t tokens = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].empty()) out << "\n";
    if (!results[i].empty() && results[i][0].truncated)
      std::fprintf(stderr, "heed: warning: line %zu is longer than the model takes (its positions, or heed::Limits); its first %zu tokens were translated\n",
                   i + 1, results[i][0].source_pieces.size());
    for (const Translation& t : results[i]) {
      tokens += t.target_pieces.size();
      if (a.n_best > 1) out << fmt::format("{:.4f}\t", t.score);
      out << t.text << "\n";
    }
  }
  if (!a.output.empty()) write_file_atomically(a.output, file.str());
  std::fprintf(stderr, "translated %zu lines: %zu target tokens in %.2f s, %.1f tokens/s\n", lines.size(), tokens,
               seconds, seconds > 0 ? double(tokens) / seconds : 0.0);
  if (!a.attention.empty() && translator) write_attention_html(lines, results, model, a);
  if (a.profile) {
    print_profile(a.ids ? id_generator->profile() : translator->profile(), a.trace);
  }
}

}  // namespace

void add_translate(CLI::App& app) {
  auto a = std::make_shared<TranslateArgs>();
  auto* cmd = app.add_subcommand("translate", "Translate lines (stdin or --input) with a Marian or heed LSTM seq2seq model directory");
  cmd->add_option("MODEL_DIR", a->model, "config.json, model.safetensors, source.spm, target.spm, vocab.json")->required();
  cmd->add_option("--input", a->input, "read lines from this file instead of stdin");
  cmd->add_option("--output", a->output, "write translations here instead of stdout");
  cmd->add_option("--beam", a->beam, "beam size (1: greedy; default: the model's generation_config.json num_beams, else 1)");
  cmd->add_option("--n-best", a->n_best, "hypotheses per line, each as 'score<TAB>text' (at most --beam)");
  cmd->add_option("--length-penalty", a->length_penalty, "beam scores are log p / length^penalty (default 1)");
  cmd->add_option("--batch-size", a->batch, "sentences per batch (default 32)");
  cmd->add_option("--max-length", a->max_new, "most tokens generated per sentence (default: the generation config's, else 256)");
  cmd->add_option("--min-length", a->min_new, "EOS is held back before this many tokens (default: the generation config's, else 0)");
  cmd->add_option("--repetition-penalty", a->repetition_penalty, "> 1 lowers the scores of tokens already generated (transformers')");
  cmd->add_option("--no-repeat-ngram-size", a->no_repeat_ngram, "no n-gram of this size is generated twice (0: off)");
  cmd->add_flag("--ids", a->ids, "lines are space-separated token ids, and so is the output (no tokenizer)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  add_device_option(cmd, &a->device);
  add_gemm_dtype_option(cmd, &a->gemm_dtype);
  add_precision_option(cmd, &a->precision);
  cmd->add_option("--attention", a->attention, "write cross-attention heatmaps (first 50 lines) to this HTML file");
  cmd->add_option("--profile", a->trace, "print per-op timings; with =FILE also write a Chrome trace")->expected(0, 1);
  cmd->callback([a, cmd] {
    a->profile = cmd->count("--profile") > 0;
    for (const CLI::Option* opt : cmd->get_options())
      if (opt->count() > 0) a->given.insert(opt->get_name());
    translate(*a);
  });
}

}  // namespace heed::tools
