// `heed caption MODEL_DIR IMAGE...`: one caption per image with a Show, Attend
// and Tell model; --attention writes each word's attention over the picture.
#include <heed/caption.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <sstream>

#include <fmt/format.h>

#include "apps/image_input.h"
#include "engine/file_io.h"
#include "engine/safetensors.h"
#include "tools/commands.h"
#include "viz/heatmap.h"

namespace heed::tools {
namespace {

struct CaptionArgs {
  std::string model, input, attention, trace, features;
  std::vector<std::string> images;
  int beam = 1, n_best = 1, batch = 8, threads = 0, max_new = 0;
  float length_penalty = 1.0f;
  bool profile = false;
  Device device = Device::cpu;
  std::optional<Precision> precision;  // unset: as the model stores its weights
};

// Per image, the picture as the model saw it with one overlay per word.
void write_caption_html(const CaptionArgs& a, const std::vector<std::vector<Caption>>& results) {
  detail::ImageInput input(a.model);
  std::vector<viz::HtmlSection> sections;
  for (size_t i = 0; i < results.size() && i < 50; ++i) {
    if (results[i].empty()) continue;
    const Caption& c = results[i][0];
    Image picture = input.picture(a.images[i]);
    viz::AttentionMap map = viz::attention_map(a.images[i], c.attention, c.grid_height * c.grid_width, c.words);
    viz::HtmlSection s{fmt::format("{}: {}", a.images[i], c.text), {}};
    s.images.emplace_back("the picture the model read", viz::scaled(picture, 160));
    for (int w = 0; w < map.rows; ++w)
      s.images.emplace_back(c.words[size_t(w)], viz::render_overlay(picture, map, w, c.grid_height, c.grid_width, 160));
    sections.push_back(std::move(s));
  }
  write_html_page(a.attention, "Where the model looked: " + a.model, sections, "attention overlays");
}

// --input: one image path a line (blank lines skipped).
std::vector<std::string> read_paths(const std::string& path) {
  std::istringstream f(read_text_file(path));
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void caption(CaptionArgs a) {
  if (!a.input.empty()) {
    std::vector<std::string> more = read_paths(a.input);
    a.images.insert(a.images.end(), more.begin(), more.end());
  }
  if (a.images.empty() == a.features.empty()) throw Error("give IMAGE files (or --input FILE), or --features FILE");
  if (!a.features.empty() && !a.attention.empty()) throw Error("--attention needs pictures to draw on, not --features");
  if (a.beam < 1 || a.n_best < 1 || a.n_best > a.beam || a.batch < 1 || a.max_new < 0)
    throw Error("--beam and --batch-size must be >= 1, --n-best between 1 and --beam, --max-length >= 1");
  Captioner captioner(a.model, CaptionerOptions{a.threads, a.profile, a.batch, a.device, print_progress, a.precision});
  GenerationOptions o;
  o.beam_size = a.beam;
  o.num_hypotheses = a.n_best;
  o.length_penalty = a.length_penalty;
  o.max_new_tokens = a.max_new > 0 ? a.max_new : captioner.max_caption_length();
  o.return_attention = !a.attention.empty();
  auto t0 = std::chrono::steady_clock::now();
  auto results = a.features.empty() ? captioner.caption_n_best(a.images, o)
                                    : captioner.caption_features_n_best(
                                          read_features(a.features, "[N, grid, grid, encoder_dim] or [N, grid * grid, encoder_dim]", {3, 4}), o);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& hyps : results)
    for (const Caption& c : hyps) std::cout << (a.n_best > 1 ? fmt::format("{:.4f}\t", c.score) : "") << c.text << "\n";
  std::fprintf(stderr, "captioned %zu images in %.2f s, %.1f images/s\n", results.size(), seconds,
               seconds > 0 ? double(results.size()) / seconds : 0.0);
  if (!a.attention.empty()) write_caption_html(a, results);
  if (a.profile) print_profile(captioner.profile(), a.trace);
}

}  // namespace

void add_caption(CLI::App& app) {
  auto a = std::make_shared<CaptionArgs>();
  auto* cmd = app.add_subcommand("caption", "Caption images with a Show, Attend and Tell model directory (one line per image)");
  cmd->add_option("MODEL_DIR", a->model, "config.json, model.safetensors, word_map.json")->required();
  cmd->add_option("IMAGE", a->images, "PNG or JPEG files");
  cmd->add_option("--input", a->input, "also caption the images listed in this file, one path a line");
  cmd->add_option("--features", a->features, "caption the rows of this safetensors tensor ('features', f32 [N, grid, grid, "
                  "encoder_dim] or [N, grid * grid, encoder_dim]: any encoder's output) instead of images");
  cmd->add_option("--beam", a->beam, "beam size (1: greedy)");
  cmd->add_option("--n-best", a->n_best, "captions per image, each as 'score<TAB>caption' (at most --beam)");
  cmd->add_option("--length-penalty", a->length_penalty, "beam scores are log p / length^penalty (default 1)");
  cmd->add_option("--max-length", a->max_new, "most words per caption (default: the model's max_caption_length)");
  cmd->add_option("--batch-size", a->batch, "images per batch (default 8)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  add_device_option(cmd, &a->device);
  add_precision_option(cmd, &a->precision);
  cmd->add_option("--attention", a->attention, "write each word's attention over the image (first 50 images) to this HTML file");
  cmd->add_option("--profile", a->trace, "print per-op timings; with =FILE also write a Chrome trace")->expected(0, 1);
  cmd->callback([a, cmd] {
    a->profile = cmd->count("--profile") > 0;
    caption(*a);
  });
}

}  // namespace heed::tools
