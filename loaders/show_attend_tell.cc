#include "loaders/show_attend_tell.h"

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

struct SatConfig {
  bool trunk;  // a ResNet trunk in the checkpoint; without one only features can be captioned
  ResNetSpec resnet;
  int64_t grid, attention, embed, decoder, vocab, encoder_dim;
  int64_t start, end, pad;
};

// The tutorial keeps the trunk as nn.Sequential(children): conv1 is resnet.0,
// bn1 .1, layer1..4 .4...7. Checkpoints saved with torchvision's own names
// (encoder.conv1.weight, ...) load too.
bool has_trunk(const WeightStore& w) { return w.find("encoder.resnet.0.weight") || w.find("encoder.conv1.weight"); }

std::function<std::string(const std::string&)> trunk_names(const WeightStore& w, const std::string& where) {
  if (w.find("encoder.resnet.0.weight"))
    return [](const std::string& name) {
      static const std::map<std::string, std::string> children = {
          {"conv1", "0"}, {"bn1", "1"}, {"maxpool", "3"}, {"layer1", "4"}, {"layer2", "5"}, {"layer3", "6"}, {"layer4", "7"}};
      const size_t dot = name.find('.');
      auto it = children.find(name.substr(0, dot));
      return "encoder.resnet." + (it == children.end() ? name : it->second + (dot == std::string::npos ? "" : name.substr(dot)));
    };
  if (w.find("encoder.conv1.weight")) return [](const std::string& name) { return "encoder." + name; };
  throw Error(fmt::format("{}: no ResNet encoder weights (expected encoder.resnet.0.weight as the tutorial saves "
                          "them, or encoder.conv1.weight)", where));
}

SatConfig read_config(const std::string& dir, const WeightStore& weights) {
  ConfigReader r(dir + "/config.json", "a Show, Attend and Tell model directory needs config.json");
  SatConfig c{};
  c.trunk = has_trunk(weights);
  if (c.trunk) {
    c.resnet = {int(r.integer("resnet_depth")), int(r.integer("resnet_stages", 4)), trunk_names(weights, r.path())};
    check_resnet(c.resnet, r.path());
  }
  c.grid = r.integer("encoded_image_size");
  c.attention = r.integer("attention_dim");
  c.embed = r.integer("embed_dim");
  c.decoder = r.integer("decoder_dim");
  c.vocab = r.integer("vocab_size");
  // The tutorial's Decoder takes encoder_dim (2048 for its ResNet-101); with a
  // trunk it is the trunk's channel count.
  c.encoder_dim = c.trunk ? resnet_channels(c.resnet) : r.integer("encoder_dim", 2048);
  for (int64_t v : {c.grid, c.attention, c.embed, c.decoder, c.vocab, c.encoder_dim})
    if (v < 1 || v > (1 << 16))
      r.fail("encoded_image_size, attention_dim, embed_dim, decoder_dim, vocab_size and encoder_dim must be 1 to 65536");
  if (c.trunk || r.raw().contains("image")) read_image_transform(r.raw(), r.path());  // checked now, used by the captioner
  const std::string wm_path = dir + "/word_map.json";
  WordMap wm = word_map_from(read_json_file(wm_path, "the captioning vocabulary"), wm_path);
  c.start = wm.at("<start>", wm_path), c.end = wm.at("<end>", wm_path), c.pad = wm.at("<pad>", wm_path);
  if (int64_t(wm.words.size()) > c.vocab)
    throw Error(fmt::format("{}: ids up to {} but the model's vocab_size is {}", wm_path, wm.words.size() - 1, c.vocab));
  return c;
}

// What the decoder starts from, given the encoder's output `encoder_out`
// [batch, grid, grid, encoder_dim] (the tutorial's Encoder.forward result).
void add_encoder_head(GraphBuilder& b, const SatConfig& c, const std::string& encoder_out) {
  b.node("features", "Reshape", {encoder_out}, {{"shape", Ints{0, -1, c.encoder_dim}}});
  b.node("att1", "Linear", {"features", b.param("decoder.attention.encoder_att.weight"), b.param("decoder.attention.encoder_att.bias")});
  std::string mean = b.node("decoder.mean_encoder_out", "ReduceMean", {"features"}, {{"axes", Ints{1}}});
  b.node("h", "Linear", {mean, b.param("decoder.init_h.weight"), b.param("decoder.init_h.bias")});
  b.node("c", "Linear", {mean, b.param("decoder.init_c.weight"), b.param("decoder.init_c.bias")});
  for (const char* out : {"features", "att1", "h", "c"}) b.output(out);
}

ir::Graph encoder_graph(const SatConfig& c) {
  GraphBuilder b("encoder");
  b.input("image", DType::f32, {Dim::symbol("batch"), Dim::known(3), Dim::symbol("height"), Dim::symbol("width")});
  std::string x = add_resnet_trunk(b, c.resnet, "image");
  x = b.node("encoder.adaptive_pool", "AdaptiveAvgPool2d", {x}, {{"output_size", Ints{c.grid}}});
  add_encoder_head(b, c, b.node("encoder.channels_last", "Transpose", {x}, {{"perm", Ints{0, 2, 3, 1}}}));
  return b.take();
}

// Captioning any encoder's features: encoder_out [batch, grid, grid, encoder_dim].
ir::Graph features_graph(const SatConfig& c) {
  GraphBuilder b("encode_features");
  b.input("encoder_out", DType::f32, {Dim::symbol("batch"), Dim::known(c.grid), Dim::known(c.grid), Dim::known(c.encoder_dim)});
  add_encoder_head(b, c, "encoder_out");
  return b.take();
}

ir::Graph decoder_step_graph(const SatConfig& c) {
  GraphBuilder b("decoder_step");
  const Dim batch = Dim::symbol("batch"), pixels = Dim::known(c.grid * c.grid);
  b.input("input_ids", DType::i64, {batch, Dim::known(1)});
  b.input("h", DType::f32, {batch, Dim::known(c.decoder)});
  b.input("c", DType::f32, {batch, Dim::known(c.decoder)});
  b.input("features", DType::f32, {batch, pixels, Dim::known(c.encoder_dim)});
  b.input("att1", DType::f32, {batch, pixels, Dim::known(c.attention)});
  auto linear = [&](const std::string& name, const std::string& x, const std::string& activation = "none") {
    return b.node(name, "Linear", {x, b.param(name + ".weight"), b.param(name + ".bias")}, {{"activation", activation}});
  };
  // attention: alpha = softmax(full_att(relu(att1 + decoder_att(h)))), awe = alpha . features
  std::string att2 = b.node("decoder.attention.att2", "Unsqueeze", {linear("decoder.attention.decoder_att", "h")}, {{"axes", Ints{1}}});
  std::string mixed = b.node("decoder.attention.relu", "Relu", {b.node("decoder.attention.sum", "Add", {"att1", att2})});
  std::string att = b.node("decoder.attention.scores", "Squeeze", {linear("decoder.attention.full_att", mixed)}, {{"axes", Ints{2}}});
  b.node("attention", "Softmax", {att}, {{"axis", int64_t(-1)}});
  std::string alpha = b.node("decoder.attention.alpha_row", "Unsqueeze", {"attention"}, {{"axes", Ints{1}}});
  std::string awe = b.node("decoder.attention.awe", "Reshape", {b.node("decoder.attention.weighted", "MatMul", {alpha, "features"})},
                           {{"shape", Ints{0, c.encoder_dim}}});
  std::string gated = b.node("decoder.gated_awe", "Mul", {linear("decoder.f_beta", "h", "sigmoid"), awe});
  std::string emb = b.node("decoder.embedding", "Embedding", {"input_ids", b.param("decoder.embedding.weight")});
  emb = b.node("decoder.embedding.row", "Reshape", {emb}, {{"shape", Ints{0, c.embed}}});
  std::string x = b.node("decoder.step_input", "Concat", {emb, gated}, {{"axis", int64_t(1)}});
  b.node("decoder.decode_step", "LSTMCell", {x, "h", "c", b.param("decoder.decode_step.weight_ih"), b.param("decoder.decode_step.weight_hh"),
                                             b.param("decoder.decode_step.bias_ih"), b.param("decoder.decode_step.bias_hh")});
  b.last().outputs = {"h_out", "c_out"};
  b.node("logits", "Linear", {"h_out", b.param("decoder.fc.weight"), b.param("decoder.fc.bias")});
  for (const char* out : {"logits", "h_out", "c_out", "attention"}) b.output(out);
  return b.take();
}

}  // namespace

ir::GraphFile import_show_attend_tell(const std::string& dir, WeightStore& weights) {
  weights.add_file(read_model_weights(dir, "captioning model's weights"));
  SatConfig c = read_config(dir, weights);
  ir::GraphFile graphs;
  if (c.trunk) graphs.graphs["encoder"] = encoder_graph(c);
  graphs.graphs["encode_features"] = features_graph(c);
  graphs.graphs["decoder_step"] = decoder_step_graph(c);
  graphs.metadata = {{"architecture", "show_attend_tell"},
                     {"vocab_size", std::to_string(c.vocab)},
                     {"pad_token_id", std::to_string(c.pad)},
                     {"eos_token_id", std::to_string(c.end)},
                     {"decoder_start_token_id", std::to_string(c.start)},
                     {"forced_eos_token_id", "-1"},
                     {"encoded_image_size", std::to_string(c.grid)},
                     {"encoder_dim", std::to_string(c.encoder_dim)}};
  return graphs;
}

}  // namespace heed
