#pragma once
// Visual question answering: a pytorch-vqa model directory (config.json,
// model.safetensors, vocab.json; see docs/models.md) in; for each (image,
// question) the top answers with probabilities and the attention map of every
// glimpse. Questions are tokenized as pytorch-vqa does; images are decoded and
// transformed exactly as torchvision does (the config's "image" entry).
#include <heed/export.h>
#include <heed/model.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heed {

struct AnswererOptions {
  int threads = 0;       // 0: all cores
  bool profile = false;  // per-op timings, read with profile()
  int batch_size = 32;   // questions answered together
  Device device = Device::cpu;
  std::function<void(size_t done, size_t total)> progress;  // after each batch, when set
  std::optional<Precision> precision;  // of a model loaded from a directory (LoadOptions::precision; unset: as stored)
};

struct Question {
  std::string image;  // a PNG or JPEG file
  std::string text;   // "what color is the circle?"
};

struct Answer {
  std::string text;
  float probability = 0;  // softmax over all answers
};

struct VqaResult {
  std::vector<Answer> answers;               // the top k, most probable first
  std::vector<std::string> tokens;           // the question as the model read it
  std::vector<std::string> unknown_words;    // tokens not in the vocabulary (read as id 0, as pytorch-vqa)
  std::vector<std::vector<float>> attention; // [glimpse][position], grid_height x grid_width row-major
  int grid_height = 0, grid_width = 0;
};

class HEED_API QuestionAnswerer {
 public:
  explicit QuestionAnswerer(const std::string& model_dir, const AnswererOptions& options = {});
  QuestionAnswerer(const Model& model, const std::string& model_dir, const AnswererOptions& options = {});
  ~QuestionAnswerer();
  QuestionAnswerer(QuestionAnswerer&&) noexcept;
  QuestionAnswerer& operator=(QuestionAnswerer&&) noexcept;

  // Needs a model with an image trunk (resnet.* weights).
  std::vector<VqaResult> answer(const std::vector<Question>& questions, int top_k = 5);
  // Image features given directly: features [N, vision_features, h, w], question i about row i.
  std::vector<VqaResult> answer_features(const Tensor& features, const std::vector<std::string>& questions, int top_k = 5);

  // Question ids (unknown words: 0); empty when the question has no words.
  std::vector<int64_t> encode(const std::string& question, std::vector<std::string>* tokens = nullptr,
                              std::vector<std::string>* unknown = nullptr) const;
  Tensor image_tensor(const std::string& image_path) const;
  const Model& model() const;
  Profile profile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed
