#include <heed/caption.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "apps/image_input.h"
#include "engine/model_impl.h"
#include "loaders/config_reader.h"
#include "loaders/word_map.h"

namespace heed {

struct Captioner::Impl {
  Model model;
  std::optional<detail::ImageInput> images;  // none for a model without an image encoder
  WordMap words;
  Generator generator;
  CaptionerOptions options;
  int grid, max_length;
  int64_t start, end, pad;

  static Model checked(Model m, const std::string& dir) {
    if (m.metadata().count("architecture") == 0 || m.metadata().at("architecture") != "show_attend_tell")
      throw Error(fmt::format("{}: not a Show, Attend and Tell captioning model", dir));
    return m;
  }

  Impl(Model m, const std::string& dir, const CaptionerOptions& o)
      : model(checked(std::move(m), dir)), generator(model, o.threads, o.profile), options(o) {
    const std::vector<std::string> graphs = model.graph_names();
    if (std::find(graphs.begin(), graphs.end(), "encoder") != graphs.end()) images.emplace(dir);
    const std::string wm = dir + "/word_map.json";
    words = word_map_from(read_json_file(wm, "the captioning vocabulary"), wm);
    start = words.at("<start>", wm), end = words.at("<end>", wm), pad = words.at("<pad>", wm);
    grid = std::stoi(model.metadata().at("encoded_image_size"));
    max_length = int(ConfigReader(dir + "/config.json", "the model's configuration").integer("max_caption_length", 50));
    if (options.batch_size < 1) throw Error(fmt::format("batch size must be at least 1, got {}", options.batch_size));
  }

  Caption caption_of(Generation& g) const {
    Caption c;
    c.score = g.score;
    c.attention = std::move(g.attention);
    c.grid_height = c.grid_width = grid;
    std::vector<std::string> shown;
    for (int64_t id : g.tokens) {
      const std::string w = id >= 0 && size_t(id) < words.words.size() && !words.words[size_t(id)].empty()
                                ? words.words[size_t(id)] : fmt::format("<{}>", id);
      c.words.push_back(w);
      if (id != start && id != end && id != pad) shown.push_back(w);
    }
    c.text = fmt::format("{}", fmt::join(shown, " "));
    return c;
  }
};

Captioner::Captioner(const std::string& model_dir, const CaptionerOptions& options)
    : Captioner(Model::load(model_dir, detail::load_on(options.device, options.precision)), model_dir, options) {}
Captioner::Captioner(const Model& model, const std::string& model_dir, const CaptionerOptions& options)
    : impl_(std::make_unique<Impl>(model, model_dir, options)) {}
Captioner::~Captioner() = default;
Captioner::Captioner(Captioner&&) noexcept = default;
Captioner& Captioner::operator=(Captioner&&) noexcept = default;

std::vector<std::vector<Caption>> Captioner::caption_n_best(const std::vector<std::string>& image_paths,
                                                            const GenerationOptions& options) {
  GenerationOptions o = options;
  o.max_new_tokens = std::min(o.max_new_tokens, impl_->max_length);
  std::vector<std::vector<Caption>> out(image_paths.size());
  for (size_t at = 0; at < image_paths.size(); at += size_t(impl_->options.batch_size)) {
    const size_t n = std::min(image_paths.size() - at, size_t(impl_->options.batch_size));
    std::vector<Tensor> tensors;
    std::vector<Shape> shapes;
    for (size_t i = 0; i < n; ++i) {
      tensors.push_back(image_tensor(image_paths[at + i]));
      shapes.push_back(tensors.back().shape());
    }
    for (const std::vector<size_t>& group : detail::batches_by_key(shapes, n)) {  // one batch per image size
      std::vector<Tensor> batch;
      for (size_t i : group) batch.push_back(tensors[i]);
      auto generated = impl_->generator.generate_n_best({{"image", detail::stack(batch)}}, o);
      for (size_t k = 0; k < group.size(); ++k)
        for (Generation& g : generated[k]) out[at + group[k]].push_back(impl_->caption_of(g));
    }
    if (impl_->options.progress) impl_->options.progress(at + n, image_paths.size());
  }
  return out;
}

std::vector<std::vector<Caption>> Captioner::caption_features_n_best(const Tensor& given, const GenerationOptions& options) {
  const int64_t grid = impl_->grid, dim = std::stoll(impl_->model.metadata().at("encoder_dim"));
  const Shape& g = given.shape();
  const bool flat = g.rank() == 3 && g[1] == grid * grid && g[2] == dim;  // the encoder graph's own "features"
  if (given.dtype() != DType::f32 || !(flat || (g.rank() == 4 && g[1] == grid && g[2] == grid && g[3] == dim)))
    throw Error(fmt::format("features must be f32 [N, {}, {}, {}] (the encoder's output, channels last) or [N, {}, {}], got {}{}",
                            grid, grid, dim, grid * grid, dim, dtype_name(given.dtype()), g.str()));
  const Tensor features = flat ? given.reshaped({g[0], grid, grid, dim}) : given;
  const Shape& s = features.shape();
  GenerationOptions o = options;
  o.max_new_tokens = std::min(o.max_new_tokens, impl_->max_length);
  std::vector<std::vector<Caption>> out(static_cast<size_t>(s[0]));
  const int64_t batch = impl_->options.batch_size, row = grid * grid * dim;
  for (int64_t at = 0; at < s[0]; at += batch) {
    const int64_t n = std::min(s[0] - at, batch);
    Tensor rows = Tensor::copy_of(DType::f32, {n, grid, grid, dim}, features.data_as<float>() + at * row);
    auto generated = impl_->generator.generate_n_best({{"encoder_out", rows}}, o);
    for (int64_t k = 0; k < n; ++k)
      for (Generation& g : generated[size_t(k)]) out[size_t(at + k)].push_back(impl_->caption_of(g));
    if (impl_->options.progress) impl_->options.progress(size_t(at + n), size_t(s[0]));
  }
  return out;
}

std::vector<Caption> Captioner::caption_features(const Tensor& features, const GenerationOptions& options) {
  std::vector<Caption> best;
  for (auto& n : caption_features_n_best(features, options)) best.push_back(n.empty() ? Caption{} : std::move(n[0]));
  return best;
}

std::vector<Caption> Captioner::caption(const std::vector<std::string>& image_paths, const GenerationOptions& options) {
  std::vector<Caption> best;
  for (auto& n : caption_n_best(image_paths, options)) best.push_back(n.empty() ? Caption{} : std::move(n[0]));
  return best;
}

Tensor Captioner::image_tensor(const std::string& image_path) const {
  if (!impl_->images)
    throw Error(fmt::format("{}: this captioning model has no image encoder (no ResNet trunk in its checkpoint): "
                            "caption an encoder's features instead", image_path));
  return impl_->images->tensor(image_path);
}
int Captioner::max_caption_length() const { return impl_->max_length; }
const Model& Captioner::model() const { return impl_->model; }
Profile Captioner::profile() const { return impl_->generator.profile(); }

}  // namespace heed
