#include "loaders/pytorch_vqa.h"

#include <heed/error.h>

#include <fmt/format.h>

#include "loaders/config_reader.h"
#include "loaders/image_transform.h"
#include "loaders/resnet.h"
#include "engine/safetensors.h"
#include "loaders/word_map.h"

namespace heed {
namespace {

using ir::Dim;
using Ints = std::vector<int64_t>;

struct VqaConfig {
  int64_t tokens, embedding, question, vision, mid, glimpses, classifier, answers;
  bool trunk;
  ResNetSpec resnet;
};

VqaConfig read_config(const std::string& dir, const WeightStore& weights) {
  ConfigReader r(dir + "/config.json", "a pytorch-vqa model directory needs config.json");
  VqaConfig c{};
  c.tokens = r.integer("embedding_tokens");
  c.embedding = r.integer("embedding_features");
  c.question = r.integer("question_features");
  c.vision = r.integer("vision_features");
  c.mid = r.integer("mid_features");
  c.glimpses = r.integer("glimpses");
  c.classifier = r.integer("classifier_features");
  c.answers = r.integer("max_answers");
  for (int64_t v : {c.tokens, c.embedding, c.question, c.vision, c.mid, c.glimpses, c.classifier, c.answers})
    if (v < 1) r.fail("every size (embedding_tokens, ..., max_answers) must be >= 1");
  c.trunk = weights.find("resnet.conv1.weight") != nullptr;
  if (c.trunk) {
    c.resnet = {int(r.integer("resnet_depth")), int(r.integer("resnet_stages", 4)),
                [](const std::string& name) { return "resnet." + name; }};
    check_resnet(c.resnet, r.path());
    if (resnet_channels(c.resnet) != c.vision)
      r.fail(fmt::format("the ResNet-{} trunk to layer{} gives {} channels, but vision_features is {}", c.resnet.depth,
                         c.resnet.stages, resnet_channels(c.resnet), c.vision));
    read_image_transform(r.raw(), r.path());  // checked now, used by the answerer
  }
  const std::string vocab_path = dir + "/vocab.json";
  nlohmann::json vocab = read_json_file(vocab_path, "the questions' and answers' vocabularies");
  for (const char* part : {"question", "answer"})
    if (!vocab.is_object() || !vocab.contains(part)) throw Error(fmt::format("{}: has no \"{}\" vocabulary", vocab_path, part));
  WordMap q = word_map_from(vocab["question"], vocab_path + " (question)"), a = word_map_from(vocab["answer"], vocab_path + " (answer)");
  if (int64_t(q.words.size()) > c.tokens)
    r.fail(fmt::format("vocab.json has question ids up to {} but embedding_tokens is {}", q.words.size() - 1, c.tokens));
  if (int64_t(a.words.size()) > c.answers)
    r.fail(fmt::format("vocab.json has answer ids up to {} but max_answers is {}", a.words.size() - 1, c.answers));
  return c;
}

ir::Graph image_features_graph(const VqaConfig& c) {
  GraphBuilder b("image_features");
  b.input("image", DType::f32, {Dim::symbol("batch"), Dim::known(3), Dim::symbol("height"), Dim::symbol("width")});
  add_resnet_trunk(b, c.resnet, "image");
  b.last().outputs = {"features"};
  b.output("features");
  return b.take();
}

struct AnswerGraph {
  const VqaConfig& c;
  GraphBuilder b{"answer"};

  std::string w(const std::string& name) { return b.param(name); }

  // TextProcessor: tanh(embedding) -> LSTM over each question's length -> final cell state [batch, question_features].
  std::string question() {
    std::string e = b.node("text.tanh", "Tanh", {b.node("text.embedding", "Embedding", {"question", w("text.embedding.weight")})});
    b.node("text.lstm", "LSTM", {e, "", "", "question_lengths", w("text.lstm.weight_ih_l0"), w("text.lstm.weight_hh_l0"),
                                 w("text.lstm.bias_ih_l0"), w("text.lstm.bias_hh_l0")},
           {{"hidden_size", c.question}, {"batch_first", int64_t(1)}});
    b.last().outputs = {"text.lstm", "text.h_n", "text.c_n"};
    return b.node("text.features", "Squeeze", {"text.c_n"}, {{"axes", Ints{0}}});
  }

  // v / (||v||_2 over channels + 1e-8)
  std::string normalized_features() {
    std::string sq = b.node("features.squared", "Mul", {"features", "features"});
    std::string norm = b.node("features.norm", "Sqrt", {b.node("features.sum", "ReduceSum", {sq}, {{"axes", Ints{1}}, {"keepdims", int64_t(1)}})});
    const float epsilon = 1e-8f;
    b.constant("features.epsilon", Tensor::copy_of(DType::f32, {}, &epsilon));
    return b.node("features.normalized", "Div", {"features", b.node("features.norm_eps", "Add", {norm, "features.epsilon"})});
  }

  ir::Graph build() {
    const Dim batch = Dim::symbol("batch");
    b.input("features", DType::f32, {batch, Dim::known(c.vision), Dim::symbol("feature_height"), Dim::symbol("feature_width")});
    b.input("question", DType::i64, {batch, Dim::symbol("words")});
    b.input("question_lengths", DType::i64, {batch});
    std::string q = question(), v = normalized_features();
    // Attention: x_conv(relu(v_conv(v) + q_lin(q) tiled over positions)), softmax over positions per glimpse.
    // v_conv, a 1x1 convolution without bias, as one matmul over the positions: [mid, vision] x [vision, h*w].
    std::string wv = b.node("attention.v_conv.matrix", "Reshape", {w("attention.v_conv.weight")}, {{"shape", Ints{c.mid, c.vision}}});
    std::string flat_v = b.node("attention.v_conv.input", "Reshape", {v}, {{"shape", Ints{0, c.vision, -1}}});
    std::string vc = b.node("attention.v_conv", "MatMul", {wv, flat_v});
    vc = b.node("attention.v_conv.map", "Reshape", {vc}, {{"shape", Ints{0, c.mid, 1, -1}}});
    std::string ql = b.node("attention.q_lin", "Linear", {q, w("attention.q_lin.weight"), w("attention.q_lin.bias")});
    std::string tiled = b.node("attention.q_tiled", "Reshape", {ql}, {{"shape", Ints{0, c.mid, 1, 1}}});
    std::string x = b.node("attention.relu", "Relu", {b.node("attention.sum", "Add", {vc, tiled})});
    x = b.node("attention.x_conv", "Conv2d", {x, w("attention.x_conv.weight"), w("attention.x_conv.bias")});
    x = b.node("attention.maps", "Reshape", {x}, {{"shape", Ints{0, c.glimpses, -1}}});
    b.node("attention", "Softmax", {x}, {{"axis", int64_t(-1)}});
    // Each glimpse's weighted mean of v: [batch, glimpses, positions] x [batch, channels, positions]^T.
    std::string flat = b.node("features.flat", "Reshape", {v}, {{"shape", Ints{0, c.vision, -1}}});
    std::string glimpses = b.node("attention.glimpses", "MatMul", {"attention", flat}, {{"transpose_b", int64_t(1)}});
    glimpses = b.node("attention.glimpses_flat", "Reshape", {glimpses}, {{"shape", Ints{0, c.glimpses * c.vision}}});
    std::string combined = b.node("combined", "Concat", {glimpses, q}, {{"axis", int64_t(1)}});
    std::string hidden = b.node("classifier.lin1", "Linear", {combined, w("classifier.lin1.weight"), w("classifier.lin1.bias")},
                                {{"activation", std::string("relu")}});
    b.node("logits", "Linear", {hidden, w("classifier.lin2.weight"), w("classifier.lin2.bias")});
    b.output("logits");
    b.output("attention");
    return b.take();
  }
};

}  // namespace

ir::GraphFile import_pytorch_vqa(const std::string& dir, WeightStore& weights) {
  weights.add_file(read_model_weights(dir, "VQA model's weights"));
  VqaConfig c = read_config(dir, weights);
  ir::GraphFile graphs;
  if (c.trunk) graphs.graphs["image_features"] = image_features_graph(c);
  graphs.graphs["answer"] = AnswerGraph{c}.build();
  graphs.metadata = {{"architecture", "pytorch_vqa"}, {"glimpses", std::to_string(c.glimpses)},
                     {"vision_features", std::to_string(c.vision)}};
  return graphs;
}

}  // namespace heed
