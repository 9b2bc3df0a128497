#pragma once
// Where a model looked, as pictures: attention weights drawn as heatmaps with
// their tokens on the axes, or over the image a model read, on one
// self-contained HTML page (the pages `heed translate|caption|vqa --attention`
// write). For applications and the Python module that draw their own results.
#include <heed/export.h>
#include <heed/tensor.h>

#include <string>
#include <vector>

namespace heed {

struct AttentionFigure {
  std::string title;
  // rows x cols weights, row-major: one query (target token, word, glimpse) per row.
  int rows = 0, cols = 0;
  std::vector<float> weights;
  std::vector<std::string> row_labels, col_labels;  // empty: positions
  // A PNG or JPEG whose grid_height x grid_width grid the columns cover: the
  // picture is shown, and each row drawn over it, instead of a heatmap.
  std::string image;
  int grid_height = 0, grid_width = 0;
};

// Figures for captured weights (a model loaded with capture_attention gives
// "attention/<node>" outputs): [T, S] and [B, T, S] one per item, [B, H, T, S]
// one per head and the head mean. Tokens label an axis of their length.
HEED_API std::vector<AttentionFigure> attention_figures(const std::string& name, const Tensor& weights,
                                                        const std::vector<std::string>& target_tokens = {},
                                                        const std::vector<std::string>& source_tokens = {});

// One HTML page (PNG images inlined) with a section per figure. Throws
// heed::Error naming the figure when its sizes disagree or its image is unreadable.
HEED_API std::string attention_html(const std::string& title, const std::vector<AttentionFigure>& figures);

}  // namespace heed
