// The public drawing API (heed/attention.h) over viz's heatmaps and overlays.
#include <heed/attention.h>
#include <heed/error.h>

#include <fmt/format.h>

#include "viz/heatmap.h"

namespace heed {
namespace {

void check_figure(const AttentionFigure& f) {
  if (f.rows < 0 || f.cols < 0 || size_t(f.rows) * size_t(f.cols) != f.weights.size())
    throw Error(fmt::format("attention figure '{}': {} x {} needs {} weights, got {}", f.title, f.rows, f.cols,
                            int64_t(f.rows) * f.cols, f.weights.size()));
  if (!f.row_labels.empty() && int(f.row_labels.size()) != f.rows)
    throw Error(fmt::format("attention figure '{}': {} row labels for {} rows", f.title, f.row_labels.size(), f.rows));
  if (!f.col_labels.empty() && int(f.col_labels.size()) != f.cols)
    throw Error(fmt::format("attention figure '{}': {} column labels for {} columns", f.title, f.col_labels.size(), f.cols));
  if (!f.image.empty() && (f.grid_height < 1 || f.grid_width < 1 || f.grid_height * f.grid_width != f.cols))
    throw Error(fmt::format("attention figure '{}': a {}x{} grid over the image does not cover its {} columns", f.title,
                            f.grid_height, f.grid_width, f.cols));
}

std::vector<std::string> labels(const std::vector<std::string>& given, int n) {
  if (!given.empty()) return given;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

viz::HtmlSection section_of(const AttentionFigure& f) {
  check_figure(f);
  viz::AttentionMap map{f.title, f.rows, f.cols, f.weights, labels(f.row_labels, f.rows), labels(f.col_labels, f.cols)};
  viz::HtmlSection section{f.title, {}};
  if (f.image.empty()) {
    section.images.emplace_back(f.title, viz::render_heatmap(map));
    return section;
  }
  Image picture = read_image(f.image);
  section.images.emplace_back("the picture the model read", viz::scaled(picture, 160));
  for (int r = 0; r < f.rows; ++r)
    section.images.emplace_back(map.row_labels[size_t(r)],
                                viz::render_overlay(picture, map, r, f.grid_height, f.grid_width, 160));
  return section;
}

}  // namespace

std::vector<AttentionFigure> attention_figures(const std::string& name, const Tensor& weights,
                                               const std::vector<std::string>& target_tokens,
                                               const std::vector<std::string>& source_tokens) {
  std::vector<AttentionFigure> figures;
  for (viz::AttentionMap& m : viz::split_attention(name, weights, target_tokens, source_tokens))
    figures.push_back({std::move(m.title), m.rows, m.cols, std::move(m.weights), std::move(m.row_labels),
                       std::move(m.col_labels), "", 0, 0});
  return figures;
}

std::string attention_html(const std::string& title, const std::vector<AttentionFigure>& figures) {
  std::vector<viz::HtmlSection> sections;
  for (const AttentionFigure& f : figures) sections.push_back(section_of(f));
  return viz::render_html(title, sections);
}

}  // namespace heed
