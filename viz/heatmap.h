#pragma once
// Attention heatmaps: one map per (batch item, head) plus the head average,
// rendered as PNG images with the tokens on the axes, as overlays on an image's
// grid, and as one self-contained HTML page.
#include <heed/tensor.h>

#include <string>
#include <vector>

#include "loaders/image.h"

namespace heed::viz {

struct AttentionMap {
  std::string title;
  int rows = 0, cols = 0;            // queries (targets) x keys (sources)
  std::vector<float> weights;        // rows x cols
  std::vector<std::string> row_labels, col_labels;
};

// A map from rows of weights (all `cols` long), e.g. a generation's attention per token.
AttentionMap attention_map(std::string title, const std::vector<std::vector<float>>& rows, int cols,
                           std::vector<std::string> row_labels = {}, std::vector<std::string> col_labels = {});

// Splits captured weights into maps: [B, H, T, S] gives per head and the head
// average for each batch item; [B, T, S] and [T, S] one map per item. Labels
// default to positions; given tokens must match the axis lengths.
std::vector<AttentionMap> split_attention(const std::string& name, const Tensor& weights,
                                          const std::vector<std::string>& target_tokens,
                                          const std::vector<std::string>& source_tokens);

Image render_heatmap(const AttentionMap& map);
// Row `row` of the map, whose columns are a grid_h x grid_w grid over the image,
// blended over the image (resized to `width` pixels wide).
Image render_overlay(const Image& image, const AttentionMap& map, int row, int grid_h, int grid_w, int width = 224);

// The image scaled (nearest pixel) to `width` pixels wide.
Image scaled(const Image& image, int width);

struct HtmlSection {
  std::string title;
  std::vector<std::pair<std::string, Image>> images;  // caption, picture
};
std::string render_html(const std::string& title, const std::vector<HtmlSection>& sections);

void viridis(float v, uint8_t out[3]);  // v in [0, 1]
void write_png_file(const std::string& path, const Image& image);

}  // namespace heed::viz
