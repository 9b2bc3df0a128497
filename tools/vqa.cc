// `heed vqa MODEL_DIR IMAGE "QUESTION"`: the most probable answers with a
// pytorch-vqa model; --input answers many (image, question) pairs; --attention
// writes each glimpse's attention over the picture.
#include <heed/vqa.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <cstring>
#include <iostream>

#include <sstream>

#include <fmt/format.h>

#include "apps/image_input.h"
#include "engine/safetensors.h"
#include "engine/file_io.h"
#include "tools/commands.h"
#include "viz/heatmap.h"

namespace heed::tools {
namespace {

struct VqaArgs {
  std::string model, image, question, input, features, attention, trace;
  int top = 3, batch = 32, threads = 0;
  bool profile = false;
  Device device = Device::cpu;
  std::optional<Precision> precision;  // unset: as the model stores its weights
};

// "IMAGE<TAB>QUESTION" lines.
std::vector<Question> read_questions(const std::string& path) {
  std::istringstream f(read_text_file(path));
  std::vector<Question> out;
  size_t number = 0;
  for (std::string line; std::getline(f, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) throw Error(fmt::format("{}:{}: expected IMAGE<TAB>QUESTION", path, number));
    out.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return out;
}

void write_vqa_html(const VqaArgs& a, const std::vector<Question>& qs, const std::vector<VqaResult>& results) {
  detail::ImageInput input(a.model);
  std::vector<viz::HtmlSection> sections;
  for (size_t i = 0; i < results.size() && i < 50; ++i) {
    const VqaResult& r = results[i];
    Image picture = input.picture(qs[i].image);
    viz::AttentionMap map = viz::attention_map(qs[i].text, r.attention, r.grid_height * r.grid_width);
    viz::HtmlSection s{fmt::format("{}: {} -> {} ({:.3f})", qs[i].image, qs[i].text, r.answers[0].text, r.answers[0].probability), {}};
    s.images.emplace_back("the picture the model read", viz::scaled(picture, 160));
    for (int g = 0; g < map.rows; ++g)
      s.images.emplace_back(fmt::format("glimpse {}", g + 1), viz::render_overlay(picture, map, g, r.grid_height, r.grid_width, 160));
    sections.push_back(std::move(s));
  }
  write_html_page(a.attention, "Where the model looked: " + a.model, sections, "attention overlays");
}

// Questions about rows of the features instead of pictures; `image` holds the row.
std::vector<VqaResult> answer_features(QuestionAnswerer& qa, const Tensor& features, const VqaArgs& a,
                                       const std::vector<Question>& qs) {
  const int64_t n = features.shape()[0];
  const size_t row = features.nbytes() / size_t(std::max<int64_t>(n, 1));
  Shape shape = features.shape();
  shape[0] = int64_t(qs.size());
  Tensor rows = Tensor::empty(DType::f32, shape);
  std::vector<std::string> texts;
  for (size_t i = 0; i < qs.size(); ++i) {
    int64_t r = -1;
    try {
      size_t used = 0;
      r = std::stoll(qs[i].image, &used);
      if (used != qs[i].image.size()) r = -1;
    } catch (const std::exception&) {
    }
    if (r < 0 || r >= n) throw Error(fmt::format("question {}: row '{}' is not in [0, {}) of {}", i + 1, qs[i].image, n, a.features));
    std::memcpy(static_cast<char*>(rows.data()) + i * row, static_cast<const char*>(features.data()) + size_t(r) * row, row);
    texts.push_back(qs[i].text);
  }
  return qa.answer_features(rows, texts, a.top);
}

void vqa(VqaArgs a) {
  if (a.top < 1 || a.batch < 1) throw Error("--top and --batch-size must be >= 1");
  if (!a.features.empty() && a.question.empty() && a.input.empty()) std::swap(a.image, a.question);  // no IMAGE with --features
  if (!a.features.empty() && !a.attention.empty()) throw Error("--attention needs pictures to draw on, not --features");
  const Tensor features = a.features.empty() ? Tensor() : read_features(a.features, "[N, channels, height, width]");
  std::vector<Question> qs;
  if (!a.input.empty()) {
    if (!a.image.empty()) throw Error("give IMAGE and QUESTION, or --input, not both");
    qs = read_questions(a.input);
  } else if (!a.features.empty()) {
    if (a.question.empty()) throw Error("give QUESTION (asked about every row of --features) or --input FILE");
    for (int64_t r = 0; r < features.shape()[0]; ++r) qs.push_back({std::to_string(r), a.question});
  } else {
    if (a.image.empty() || a.question.empty()) throw Error("give IMAGE and QUESTION (or --input FILE)");
    qs.push_back({a.image, a.question});
  }
  QuestionAnswerer answerer(a.model, AnswererOptions{a.threads, a.profile, a.batch, a.device, print_progress, a.precision});
  auto t0 = std::chrono::steady_clock::now();
  std::vector<VqaResult> results = a.features.empty() ? answerer.answer(qs, a.top) : answer_features(answerer, features, a, qs);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].unknown_words.empty())
      std::fprintf(stderr, "heed: warning: question %zu: unknown words (read as id 0, as pytorch-vqa): %s\n", i + 1,
                   fmt::format("{}", fmt::join(results[i].unknown_words, " ")).c_str());
    std::vector<std::string> cells;
    for (const Answer& ans : results[i].answers) cells.push_back(fmt::format("{}\t{:.4f}", ans.text, ans.probability));
    std::cout << fmt::format("{}", fmt::join(cells, "\t")) << "\n";
  }
  std::fprintf(stderr, "answered %zu questions in %.2f s, %.1f questions/s\n", qs.size(), seconds,
               seconds > 0 ? double(qs.size()) / seconds : 0.0);
  if (!a.attention.empty()) write_vqa_html(a, qs, results);
  if (a.profile) print_profile(answerer.profile(), a.trace);
}

}  // namespace

void add_vqa(CLI::App& app) {
  auto a = std::make_shared<VqaArgs>();
  auto* cmd = app.add_subcommand("vqa", "Answer a question about an image with a pytorch-vqa model directory; prints "
                                        "'answer<TAB>probability' for the top answers, one line per question");
  cmd->add_option("MODEL_DIR", a->model, "config.json, model.safetensors, vocab.json")->required();
  cmd->add_option("IMAGE", a->image, "a PNG or JPEG file");
  cmd->add_option("QUESTION", a->question, "the question, e.g. \"what color is the circle?\"");
  cmd->add_option("--input", a->input, "answer every 'IMAGE<TAB>QUESTION' line of this file instead (with --features: 'ROW<TAB>QUESTION')");
  cmd->add_option("--features", a->features,
                  "image features instead of pictures: a safetensors file with 'features' f32 [N, channels, h, w] "
                  "(QUESTION is asked about every row)");
  cmd->add_option("--top", a->top, "answers per question (default 3)");
  cmd->add_option("--batch-size", a->batch, "questions per batch (default 32)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  add_device_option(cmd, &a->device);
  add_precision_option(cmd, &a->precision);
  cmd->add_option("--attention", a->attention, "write each glimpse's attention over the image (first 50 questions) to this HTML file");
  cmd->add_option("--profile", a->trace, "print per-op timings; with =FILE also write a Chrome trace")->expected(0, 1);
  cmd->callback([a, cmd] {
    a->profile = cmd->count("--profile") > 0;
    vqa(*a);
  });
}

}  // namespace heed::tools
