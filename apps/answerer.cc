#include <heed/vqa.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/image_input.h"
#include "engine/model_impl.h"
#include "engine/step_models.h"
#include "loaders/vqa_question.h"
#include "loaders/word_map.h"

namespace heed {

struct QuestionAnswerer::Impl {
  Model model;
  std::optional<detail::ImageInput> images;  // models without an image trunk take features only
  WordMap question_words, answers;
  std::optional<Session> trunk;
  Session answer;
  AnswererOptions options;

  static Model checked(Model m, const std::string& dir) {
    if (m.metadata().count("architecture") == 0 || m.metadata().at("architecture") != "pytorch_vqa")
      throw Error(fmt::format("{}: not a pytorch-vqa model", dir));
    return m;
  }

  Impl(Model m, const std::string& dir, const AnswererOptions& o)
      : model(checked(std::move(m), dir)), answer(model, {"answer", o.threads, o.profile}), options(o) {
    const std::string vocab_path = dir + "/vocab.json";
    nlohmann::json vocab = read_json_file(vocab_path, "the questions' and answers' vocabularies");
    question_words = word_map_from(vocab["question"], vocab_path + " (question)");
    answers = word_map_from(vocab["answer"], vocab_path + " (answer)");
    if (model.graph_names().size() > 1) {
      images.emplace(dir);
      trunk.emplace(model, SessionOptions{"image_features", o.threads, o.profile});
    }
    if (options.batch_size < 1) throw Error(fmt::format("batch size must be at least 1, got {}", options.batch_size));
  }

  // Rows [B, ...] of features -> one result per row for `questions`.
  std::vector<VqaResult> run(const Tensor& features, const std::vector<std::string>& questions, int top_k,
                             size_t first_number, const QuestionAnswerer& self) {
    const int64_t B = int64_t(questions.size());
    std::vector<VqaResult> out(questions.size());
    std::vector<std::vector<int64_t>> ids(questions.size());
    size_t longest = 1;
    for (size_t i = 0; i < questions.size(); ++i) {
      ids[i] = self.encode(questions[i], &out[i].tokens, &out[i].unknown_words);
      if (ids[i].empty()) throw Error(fmt::format("question {}: \"{}\" has no words", first_number + i + 1, questions[i]));
      longest = std::max(longest, ids[i].size());
    }
    Tensor q = Tensor::zeros(DType::i64, {B, int64_t(longest)}), len = Tensor::empty(DType::i64, {B});
    for (int64_t b = 0; b < B; ++b) {
      std::copy(ids[size_t(b)].begin(), ids[size_t(b)].end(), q.data_as<int64_t>() + b * int64_t(longest));
      len.data_as<int64_t>()[b] = int64_t(ids[size_t(b)].size());
    }
    TensorMap res = answer.run({{"features", features}, {"question", q}, {"question_lengths", len}});
    const Tensor &logits = res.at("logits"), &att = res.at("attention");
    const int64_t A = logits.shape()[1], G = att.shape()[1], P = att.shape()[2];
    for (int64_t b = 0; b < B; ++b) {
      VqaResult& r = out[size_t(b)];
      r.answers = top_answers(logits.data_as<float>() + b * A, A, top_k);
      for (int64_t g = 0; g < G; ++g) {
        const float* p = att.data_as<float>() + (b * G + g) * P;
        r.attention.emplace_back(p, p + P);
      }
      r.grid_height = int(features.shape()[2]), r.grid_width = int(features.shape()[3]);
    }
    return out;
  }

  std::vector<Answer> top_answers(const float* logits, int64_t A, int top_k) const {
    const float max = *std::max_element(logits, logits + A);
    double sum = 0;
    for (int64_t a = 0; a < A; ++a) sum += std::exp(double(logits[a] - max));
    std::vector<int64_t> order(static_cast<size_t>(A));
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min(size_t(std::max(top_k, 1)), size_t(A));
    std::partial_sort(order.begin(), order.begin() + long(k), order.end(),
                      [&](int64_t x, int64_t y) { return logits[x] != logits[y] ? logits[x] > logits[y] : x < y; });
    std::vector<Answer> out;
    for (size_t i = 0; i < k; ++i) {
      const int64_t a = order[i];
      const std::string text = size_t(a) < answers.words.size() && !answers.words[size_t(a)].empty()
                                   ? answers.words[size_t(a)] : fmt::format("<answer {}>", a);
      out.push_back({text, float(std::exp(double(logits[a] - max)) / sum)});
    }
    return out;
  }
};

QuestionAnswerer::QuestionAnswerer(const std::string& model_dir, const AnswererOptions& options)
    : QuestionAnswerer(Model::load(model_dir, detail::load_on(options.device, options.precision)), model_dir, options) {}
QuestionAnswerer::QuestionAnswerer(const Model& model, const std::string& model_dir, const AnswererOptions& options)
    : impl_(std::make_unique<Impl>(model, model_dir, options)) {}
QuestionAnswerer::~QuestionAnswerer() = default;
QuestionAnswerer::QuestionAnswerer(QuestionAnswerer&&) noexcept = default;
QuestionAnswerer& QuestionAnswerer::operator=(QuestionAnswerer&&) noexcept = default;

std::vector<int64_t> QuestionAnswerer::encode(const std::string& question, std::vector<std::string>* tokens,
                                              std::vector<std::string>* unknown) const {
  std::vector<int64_t> ids;
  for (const std::string& word : vqa_question_tokens(question)) {
    auto it = impl_->question_words.ids.find(word);
    const bool known = it != impl_->question_words.ids.end();
    ids.push_back(known ? it->second : 0);  // pytorch-vqa's unknown (and padding) id
    if (tokens) tokens->push_back(word);
    if (unknown && !known) unknown->push_back(word);
  }
  return ids;
}

std::vector<VqaResult> QuestionAnswerer::answer_features(const Tensor& features, const std::vector<std::string>& questions,
                                                         int top_k) {
  if (features.shape().rank() != 4 || features.shape()[0] != int64_t(questions.size()))
    throw Error(fmt::format("features {} must be [questions ({}), channels, height, width]", features.shape().str(),
                            questions.size()));
  std::vector<VqaResult> out;
  const size_t batch = size_t(impl_->options.batch_size), row = features.nbytes() / std::max<size_t>(1, questions.size());
  for (size_t at = 0; at < questions.size(); at += batch) {  // batches of rows, viewed in place
    const size_t n = std::min(batch, questions.size() - at);
    Shape shape = features.shape();
    shape[0] = int64_t(n);
    Tensor rows = Tensor::view(features.dtype(), shape, static_cast<char*>(const_cast<void*>(features.data())) + at * row);
    std::vector<VqaResult> res = impl_->run(rows, {questions.begin() + long(at), questions.begin() + long(at + n)}, top_k, at, *this);
    std::move(res.begin(), res.end(), std::back_inserter(out));
    if (impl_->options.progress) impl_->options.progress(at + n, questions.size());
  }
  return out;
}

std::vector<VqaResult> QuestionAnswerer::answer(const std::vector<Question>& questions, int top_k) {
  if (!impl_->trunk) throw Error("this VQA model has no image trunk (resnet.* weights): give image features with answer_features");
  std::vector<VqaResult> out(questions.size());
  const size_t batch = size_t(impl_->options.batch_size);
  for (size_t at = 0; at < questions.size(); at += batch) {
    const size_t n = std::min(batch, questions.size() - at);
    std::map<std::string, Tensor> features;  // each image through the trunk once per batch
    std::vector<Shape> shapes;
    for (size_t i = at; i < at + n; ++i) {
      Tensor& f = features[questions[i].image];
      if (f.shape().rank() == 0) {
        Tensor image = detail::stack({image_tensor(questions[i].image)});
        f = impl_->trunk->run({{"image", image}}).at("features");
      }
      shapes.push_back(f.shape());
    }
    for (const std::vector<size_t>& group : detail::batches_by_key(shapes, n)) {
      std::vector<Tensor> rows;
      std::vector<std::string> texts;
      for (size_t k : group) {
        const Tensor& f = features.at(questions[at + k].image);
        rows.push_back(Tensor::view(f.dtype(), Shape(f.shape().dims().subspan(1)), const_cast<void*>(f.data())));
        texts.push_back(questions[at + k].text);
      }
      std::vector<VqaResult> res = impl_->run(detail::stack(rows), texts, top_k, at + group[0], *this);
      for (size_t k = 0; k < group.size(); ++k) out[at + group[k]] = std::move(res[k]);
    }
    if (impl_->options.progress) impl_->options.progress(at + n, questions.size());
  }
  return out;
}

Tensor QuestionAnswerer::image_tensor(const std::string& image_path) const {
  if (!impl_->images) throw Error("this VQA model has no image trunk: it reads image features, not images");
  return impl_->images->tensor(image_path);
}
const Model& QuestionAnswerer::model() const { return impl_->model; }
Profile QuestionAnswerer::profile() const {
  return impl_->trunk ? detail::merge_profiles({&*impl_->trunk, &impl_->answer}) : impl_->answer.profile();
}

}  // namespace heed
