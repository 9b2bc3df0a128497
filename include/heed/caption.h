#pragma once
// Image captioning: a Show, Attend and Tell model directory (config.json,
// model.safetensors, word_map.json; see docs/models.md) in, one caption per
// image out, with where the model looked for every word. Images are decoded and
// transformed exactly as torchvision does (the config's "image" entry).
#include <heed/export.h>
#include <heed/generate.h>
#include <heed/model.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heed {

struct CaptionerOptions {
  int threads = 0;       // 0: all cores
  bool profile = false;  // per-op timings, read with profile()
  int batch_size = 8;    // images encoded and decoded together
  Device device = Device::cpu;  // where a model loaded from a directory runs
  std::function<void(size_t done, size_t total)> progress;  // after each batch, when set
  std::optional<Precision> precision;  // of a model loaded from a directory (LoadOptions::precision; unset: as stored)
};

struct Caption {
  std::string text;                 // the words, <start>, <end> and <pad> dropped
  std::vector<std::string> words;   // every generated word, <end> included when generated
  float score = 0;                  // as Generation::score
  // Per word in `words`, its attention (alpha) over the encoded image's
  // grid_height x grid_width positions, row-major (with return_attention).
  std::vector<std::vector<float>> attention;
  int grid_height = 0, grid_width = 0;
};

class HEED_API Captioner {
 public:
  explicit Captioner(const std::string& model_dir, const CaptionerOptions& options = {});
  // Shares a model already loaded from `model_dir`.
  Captioner(const Model& model, const std::string& model_dir, const CaptionerOptions& options = {});
  ~Captioner();
  Captioner(Captioner&&) noexcept;
  Captioner& operator=(Captioner&&) noexcept;

  // One caption per image file (PNG or JPEG). options.max_new_tokens is capped
  // at the model's max_caption_length.
  std::vector<Caption> caption(const std::vector<std::string>& image_paths, const GenerationOptions& options = {});
  // The options.num_hypotheses best per image, best first (beam search).
  std::vector<std::vector<Caption>> caption_n_best(const std::vector<std::string>& image_paths,
                                                   const GenerationOptions& options = {});

  // Captions for any encoder's features instead of pictures: `features` f32
  // [N, grid, grid, encoder_dim] (the tutorial Encoder's output: channels last,
  // after its adaptive pooling) or [N, grid * grid, encoder_dim] (heed's encoder
  // graph's "features" output), one caption per row. The only way in for a
  // checkpoint without a ResNet trunk.
  std::vector<std::vector<Caption>> caption_features_n_best(const Tensor& features, const GenerationOptions& options = {});
  std::vector<Caption> caption_features(const Tensor& features, const GenerationOptions& options = {});

  // The tensor the encoder reads for an image: [3, H, W] after resizing, cropping and normalizing.
  Tensor image_tensor(const std::string& image_path) const;
  int max_caption_length() const;
  const Model& model() const;
  Profile profile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed
