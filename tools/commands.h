#pragma once
#include <heed/model.h>

#include <CLI/CLI.hpp>

#include "viz/heatmap.h"

namespace heed::tools {

struct AttentionReport {
  std::string title = "Attention";
  std::string html, png_dir;
  std::string source_tokens, target_tokens;  // space-separated axis labels
  std::string image, grid;                   // overlay on an image's HxW grid
};
void write_attention_report(const TensorMap& weights, const AttentionReport& report);

// --device cpu|cuda on a subcommand, into `device`.
void add_device_option(CLI::App* cmd, Device* device);
// --gemm-dtype f32|f16|bf16 (LoadOptions::gemm_dtype), into `dtype`.
void add_gemm_dtype_option(CLI::App* cmd, DType* dtype);
// --precision f32|bf16|int8 (LoadOptions::precision), into `precision`.
void add_precision_option(CLI::App* cmd, std::optional<Precision>* precision);

// A progress bar on stderr (a terminal only), as a batch callback.
void print_progress(size_t done, size_t total);
// The per-op table on stderr; with a path, also the Chrome trace there.
// --features FILE: the tensor named "features" (or the file's only one), f32
// of one of `ranks`; `layout` names the dims in the error ("[N, channels, height, width]").
Tensor read_features(const std::string& path, const char* layout, std::initializer_list<int> ranks = {4});
void print_profile(const Profile& profile, const std::string& trace);
// viz::render_html's page written to `path`, then "<what> written to <path>" on stderr.
void write_html_page(const std::string& path, const std::string& title, const std::vector<viz::HtmlSection>& sections,
                     const std::string& what);

// Each adds a subcommand whose callback does the work (errors propagate as heed::Error).
void add_inspect(CLI::App& app);
void add_run(CLI::App& app);  // `run` and `profile`
void add_attention(CLI::App& app);
void add_translate(CLI::App& app);
void add_caption(CLI::App& app);
void add_vqa(CLI::App& app);
void add_convert(CLI::App& app);
void add_quantize(CLI::App& app);

}  // namespace heed::tools
