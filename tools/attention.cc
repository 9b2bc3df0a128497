// `heed attention`: heatmaps of attention weights (per head, per layer, and the
// head average) as PNG files and one self-contained HTML page; with --image, each
// query's weights overlaid on the image grid. `heed run --attention` uses the same.
#include <heed/error.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/safetensors.h"
#include "tools/commands.h"
#include "viz/heatmap.h"

namespace heed::tools {
namespace {

std::vector<std::string> split_tokens(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

std::string file_stem(std::string title) {
  for (char& c : title)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return title;
}

std::pair<int, int> parse_grid(const std::string& grid) {
  int h = 0, w = 0;
  char x = 0;
  std::istringstream in(grid);
  if (!(in >> h >> x >> w) || x != 'x' || h < 1 || w < 1)
    throw Error(fmt::format("--grid '{}': expected HxW, e.g. 14x14", grid));
  return {h, w};
}

}  // namespace

void write_attention_report(const TensorMap& weights, const AttentionReport& r) {
  if (weights.empty()) throw Error("no attention weights to show (the graph has no attention node)");
  std::vector<viz::HtmlSection> sections;
  std::optional<Image> image;
  std::pair<int, int> grid;
  if (!r.image.empty()) {
    grid = parse_grid(r.grid);
    image = read_image(r.image);
  }
  if (!r.png_dir.empty()) std::filesystem::create_directories(r.png_dir);
  int written = 0;
  for (const auto& [name, t] : weights) {
    viz::HtmlSection section{name, {}};
    for (const viz::AttentionMap& map :
         viz::split_attention(name, t, split_tokens(r.target_tokens), split_tokens(r.source_tokens))) {
      Image img = viz::render_heatmap(map);
      if (!r.png_dir.empty()) {
        viz::write_png_file(r.png_dir + "/" + file_stem(map.title) + ".png", img);
        ++written;
      }
      section.images.emplace_back(map.title, std::move(img));
      if (image) {
        auto [gh, gw] = grid;
        for (int row = 0; row < map.rows; ++row) {
          std::string caption = fmt::format("{}: {} over the image", map.title, map.row_labels[size_t(row)]);
          Image overlay = viz::render_overlay(*image, map, row, gh, gw);
          if (!r.png_dir.empty()) {
            viz::write_png_file(r.png_dir + "/" + file_stem(caption) + ".png", overlay);
            ++written;
          }
          section.images.emplace_back(caption, std::move(overlay));
        }
      }
    }
    sections.push_back(std::move(section));
  }
  if (!r.html.empty()) write_html_page(r.html, r.title, sections, "attention heatmaps");
  if (written) fmt::print(stderr, "{} PNG heatmaps written to {}/\n", written, r.png_dir);
}

void add_attention(CLI::App& app) {
  auto* cmd = app.add_subcommand("attention", "Render attention weights as heatmaps (PNG and HTML)");
  auto file = std::make_shared<std::string>();
  auto names = std::make_shared<std::vector<std::string>>();
  auto r = std::make_shared<AttentionReport>();
  cmd->add_option("WEIGHTS", *file, "safetensors file of attention weights (e.g. heed run --output with --attention)")
      ->required();
  cmd->add_option("--tensor", *names, "only these tensors (default: every f32 tensor of rank 2..4)");
  cmd->add_option("--html", r->html, "write one self-contained HTML page here");
  cmd->add_option("--png-dir", r->png_dir, "write one PNG per map into this folder");
  cmd->add_option("--source-tokens", r->source_tokens, "space-separated labels for the key (source) axis");
  cmd->add_option("--target-tokens", r->target_tokens, "space-separated labels for the query (target) axis");
  cmd->add_option("--image", r->image, "overlay each query's weights on this PNG or JPEG");
  cmd->add_option("--grid", r->grid, "the image grid the keys cover, HxW (with --image)");
  cmd->callback([file, names, r] {
    if (r->html.empty() && r->png_dir.empty()) throw Error("give --html FILE and/or --png-dir DIR");
    if (!r->image.empty() && r->grid.empty()) throw Error("--image needs --grid HxW");
    SafetensorsFile f = read_safetensors(*file);
    TensorMap chosen;
    for (const auto& [name, t] : f.tensors) {
      bool wanted = names->empty() ? (t.dtype() == DType::f32 && t.shape().rank() >= 2 && t.shape().rank() <= 4)
                                   : std::find(names->begin(), names->end(), name) != names->end();
      if (wanted) chosen[name] = t;
    }
    for (const std::string& n : *names)
      if (!chosen.count(n)) throw Error(fmt::format("{}: no tensor named '{}'", *file, n));
    r->title = "Attention: " + *file;
    write_attention_report(chosen, *r);
  });
}

}  // namespace heed::tools
