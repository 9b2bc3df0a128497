#include "loaders/marian.h"

#include <heed/error.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "loaders/config_reader.h"
#include "loaders/graph_builder.h"
#include "engine/safetensors.h"

namespace heed {
namespace {

using nlohmann::json;
using ir::Dim;

struct MarianConfig {
  int64_t d_model, enc_layers, dec_layers, enc_heads, dec_heads, vocab, max_pos, pad, eos, start;
  int64_t forced_eos = -1;
  bool scale_embedding;
  std::string activation;
  bool tied;
  // share_encoder_decoder_embeddings = false (some opus-mt pairs): each side has
  // its own table and vocabulary, the decoder's of dec_vocab tokens.
  bool shared;
  int64_t dec_vocab;
  std::string encoder_table() const { return shared ? "model.shared.weight" : "model.encoder.embed_tokens.weight"; }
  std::string decoder_table() const { return shared ? "model.shared.weight" : "model.decoder.embed_tokens.weight"; }
};

// Sizes before any use: positive, within bounds no real model approaches (so
// nothing below overflows or allocates without limit), ids inside the vocabulary.
void check_sizes(const ConfigReader& r, const MarianConfig& c) {
  auto in_range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) r.fail(fmt::format("'{}' is {}, expected {} to {}", key, v, lo, hi));
  };
  in_range("d_model", c.d_model, 1, 1 << 16);
  in_range("encoder_layers", c.enc_layers, 1, 1024);
  in_range("decoder_layers", c.dec_layers, 1, 1024);
  in_range("encoder_attention_heads", c.enc_heads, 1, c.d_model);
  in_range("decoder_attention_heads", c.dec_heads, 1, c.d_model);
  in_range("vocab_size", c.vocab, 1, int64_t(1) << 24);
  in_range("decoder_vocab_size", c.dec_vocab, 1, int64_t(1) << 24);
  in_range("max_position_embeddings", c.max_pos, 1, 1 << 20);
  // pad and EOS are in both vocabularies (sources end with EOS and are padded); the start token is the decoder's.
  for (auto [key, id] : {std::pair{"pad_token_id", c.pad}, {"eos_token_id", c.eos}})
    in_range(key, id, 0, std::min(c.vocab, c.dec_vocab) - 1);
  in_range("decoder_start_token_id", c.start, 0, c.dec_vocab - 1);
  if (c.forced_eos >= c.dec_vocab) r.fail(fmt::format("'forced_eos_token_id' {} is outside the vocabulary", c.forced_eos));
  r.refuse_if(c.d_model % c.enc_heads || c.d_model % c.dec_heads, "d_model not divisible by the head count", "Marian");
}

MarianConfig read_config(const std::string& dir) {
  ConfigReader r(dir + "/config.json", "a Marian model directory needs config.json");
  const json& j = r.raw();
  const std::string& path = r.path();
  if (!j.contains("model_type") || j["model_type"] != "marian")
    throw Error(fmt::format("{}: model_type is {}, expected \"marian\"", path, j.value("model_type", json()).dump()));
  r.refuse_if(r.flag("normalize_before", false), "normalize_before = true (pre-LayerNorm)", "Marian");
  r.refuse_if(r.flag("normalize_embedding", false), "normalize_embedding = true", "Marian");
  r.refuse_if(r.flag("add_final_layer_norm", false), "add_final_layer_norm = true", "Marian");
  // Defaults are transformers' MarianConfig's, so a config.json that leaves a
  // key out means what it means to transformers.
  MarianConfig c{};
  c.d_model = r.integer("d_model", 1024);
  c.enc_layers = r.integer("encoder_layers", 12);
  c.dec_layers = r.integer("decoder_layers", 12);
  c.enc_heads = r.integer("encoder_attention_heads", 16);
  c.dec_heads = r.integer("decoder_attention_heads", 16);
  c.vocab = r.integer("vocab_size", 58101);
  c.shared = r.flag("share_encoder_decoder_embeddings", true);
  c.dec_vocab = r.optional_integer("decoder_vocab_size", -1);  // None: the encoder's, as in transformers
  if (c.dec_vocab < 0) c.dec_vocab = c.vocab;
  r.refuse_if(c.shared && c.dec_vocab != c.vocab, "a decoder vocabulary different from the encoder's with shared embeddings", "Marian");
  c.max_pos = r.integer("max_position_embeddings", 1024);
  c.pad = r.integer("pad_token_id", 58100);
  c.eos = r.integer("eos_token_id", 0);
  c.start = r.integer("decoder_start_token_id", 58100);
  c.forced_eos = r.optional_integer("forced_eos_token_id", 0);
  c.scale_embedding = r.flag("scale_embedding", false);
  c.tied = r.flag("tie_word_embeddings", true);
  std::string act = r.string("activation_function", "gelu");
  static const std::map<std::string, std::string> acts = {
      {"swish", "silu"}, {"silu", "silu"}, {"gelu", "gelu"}, {"relu", "relu"}, {"gelu_new", "gelu_tanh"},
      {"gelu_pytorch_tanh", "gelu_tanh"}, {"tanh", "tanh"}, {"sigmoid", "sigmoid"}};
  auto it = acts.find(act);
  r.refuse_if(it == acts.end(), fmt::format("activation_function \"{}\"", act), "Marian");
  c.activation = it->second;
  check_sizes(r, c);
  return c;
}

// MarianSinusoidalPositionalEmbedding: sin in the first half, cos in the second.
Tensor sinusoids(int64_t positions, int64_t dim) {
  Tensor t = Tensor::empty(DType::f32, {positions, dim});
  int64_t half = (dim + 1) / 2;
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t j = 0; j < dim; ++j) {
      int64_t k = j < half ? 2 * j : 2 * (j - half) + 1;  // the column of the interleaved table it comes from
      double angle = double(p) / std::pow(10000.0, 2.0 * double(k / 2) / double(dim));
      t.data_as<float>()[p * dim + j] = float(j < half ? std::sin(angle) : std::cos(angle));
    }
  return t;
}

struct Builder {
  const MarianConfig& c;
  GraphBuilder b;
  std::string w(const std::string& name) { return b.param(name); }

  std::string embed(const std::string& ids, const std::string& positions, const std::string& table) {
    std::string e = b.node("embed", "Embedding", {ids, w(table)});
    if (c.scale_embedding) {
      Tensor s = Tensor::empty(DType::f32, {});
      s.data_as<float>()[0] = float(std::sqrt(double(c.d_model)));
      e = b.node("embed_scaled", "Mul", {e, b.constant("embed_scale", s)});
    }
    std::string pos = b.node("embed_positions", "Embedding", {positions, b.constant("positions_table", sinusoids(c.max_pos, c.d_model))});
    return b.node("embed_sum", "Add", {e, pos});
  }

  std::string add_norm(const std::string& p, const std::string& x, const std::string& y, const std::string& ln) {
    std::string sum = b.node(p + "." + ln + ".residual", "Add", {x, y});
    return b.node(p + "." + ln, "LayerNorm", {sum, w(p + "." + ln + ".weight"), w(p + "." + ln + ".bias")});
  }

  std::string ffn(const std::string& p, const std::string& h) {
    std::string f = b.node(p + ".fc1", "Linear", {h, w(p + ".fc1.weight"), w(p + ".fc1.bias")}, {{"activation", c.activation}});
    f = b.node(p + ".fc2", "Linear", {f, w(p + ".fc2.weight"), w(p + ".fc2.bias")});
    return add_norm(p, h, f, "final_layer_norm");
  }

  std::vector<std::string> attn_weights(const std::string& a) {
    return {w(a + ".q_proj.weight"), w(a + ".k_proj.weight"), w(a + ".v_proj.weight"), w(a + ".q_proj.bias"),
            w(a + ".k_proj.bias"), w(a + ".v_proj.bias"), w(a + ".out_proj.weight"), w(a + ".out_proj.bias")};
  }
};

ir::Graph encoder_graph(const MarianConfig& c) {
  Builder e{c, GraphBuilder("encoder")};
  e.b.input("input_ids", DType::i64, {Dim::symbol("batch"), Dim::symbol("src")});
  e.b.input("positions", DType::i64, {Dim::symbol("src")});
  e.b.input("src_pad", DType::boolean, {Dim::symbol("batch"), Dim::symbol("src")});
  std::string h = e.embed("input_ids", "positions", c.encoder_table());
  for (int64_t l = 0; l < c.enc_layers; ++l) {
    std::string p = fmt::format("model.encoder.layers.{}", l);
    auto wts = e.attn_weights(p + ".self_attn");
    std::vector<std::string> in = {h, "", ""};
    in.insert(in.end(), wts.begin(), wts.end());
    in.push_back("src_pad");
    std::string a = e.b.node(p + ".self_attn", "MultiHeadAttention", in, {{"num_heads", c.enc_heads}});
    h = e.ffn(p, e.add_norm(p, h, a, "self_attn_layer_norm"));
  }
  e.b.node("encoder_out", "Reshape", {h}, {{"shape", std::vector<int64_t>{0, 0, c.d_model}}});
  e.b.output("encoder_out");
  return e.b.take();
}

ir::Graph cross_kv_graph(const MarianConfig& c) {
  Builder x{c, GraphBuilder("cross_kv")};
  x.b.input("encoder_out", DType::f32, {Dim::symbol("batch"), Dim::symbol("src"), Dim::known(c.d_model)});
  const int64_t hd = c.d_model / c.dec_heads;
  for (int64_t l = 0; l < c.dec_layers; ++l)
    for (const char* kv : {"k", "v"}) {
      std::string p = fmt::format("model.decoder.layers.{}.encoder_attn.{}_proj", l, kv);
      std::string lin = x.b.node(p, "Linear", {"encoder_out", x.w(p + ".weight"), x.w(p + ".bias")});
      std::string split = x.b.node(p + ".heads", "Reshape", {lin}, {{"shape", std::vector<int64_t>{0, 0, c.dec_heads, hd}}});
      std::string out = fmt::format("cross_{}.{}", kv, l);
      x.b.node(out, "Transpose", {split}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
      x.b.output(out);
    }
  return x.b.take();
}

ir::Graph decoder_step_graph(const MarianConfig& c, bool untied_head) {
  Builder d{c, GraphBuilder("decoder_step")};
  const int64_t hd = c.d_model / c.dec_heads;
  d.b.input("input_ids", DType::i64, {Dim::symbol("batch"), Dim::symbol("new")});
  d.b.input("positions", DType::i64, {Dim::symbol("new")});
  d.b.input("position", DType::i64, {});
  // The source side has a row per source ("sources"), the target side one per
  // hypothesis ("batch": sources x beams): the beams of a source share its
  // cross-attention keys (MultiHeadAttention takes keys of a batch dividing the query's).
  d.b.input("src_pad", DType::boolean, {Dim::symbol("sources"), Dim::symbol("src")});
  for (int64_t l = 0; l < c.dec_layers; ++l) {
    for (const char* kv : {"k", "v"})
      d.b.input(fmt::format("cross_{}.{}", kv, l), DType::f32, {Dim::symbol("sources"), Dim::known(c.dec_heads), Dim::symbol("src"), Dim::known(hd)});
    for (const char* kv : {"k", "v"})
      d.b.input(fmt::format("cache_{}.{}", kv, l), DType::f32, {Dim::symbol("batch"), Dim::known(c.dec_heads), Dim::symbol("max_len"), Dim::known(hd)});
  }
  std::string h = d.embed("input_ids", "positions", c.decoder_table());
  for (int64_t l = 0; l < c.dec_layers; ++l) {
    std::string p = fmt::format("model.decoder.layers.{}", l);
    auto sw = d.attn_weights(p + ".self_attn");
    std::vector<std::string> in = {h, "", ""};
    in.insert(in.end(), sw.begin(), sw.end());
    in.insert(in.end(), {"", "", fmt::format("cache_k.{}", l), fmt::format("cache_v.{}", l), "position"});
    std::string a = d.b.node(p + ".self_attn", "MultiHeadAttention", in, {{"num_heads", c.dec_heads}, {"causal", int64_t(1)}});
    h = d.add_norm(p, h, a, "self_attn_layer_norm");
    std::string e = p + ".encoder_attn";
    std::vector<std::string> cin = {h, fmt::format("cross_k.{}", l), fmt::format("cross_v.{}", l), d.w(e + ".q_proj.weight"), "", "",
                                    d.w(e + ".q_proj.bias"), "", "", d.w(e + ".out_proj.weight"), d.w(e + ".out_proj.bias"), "src_pad"};
    std::string x = d.b.node(e, "MultiHeadAttention", cin, {{"num_heads", c.dec_heads}, {"kv_projected", int64_t(1)}});
    if (l == c.dec_layers - 1) d.b.last().outputs.push_back("cross_attention");  // where the model looks
    h = d.ffn(p, d.add_norm(p, h, x, "encoder_attn_layer_norm"));
  }
  std::string bias = d.b.node("final_logits_bias.flat", "Reshape", {d.w("final_logits_bias")}, {{"shape", std::vector<int64_t>{-1}}});
  d.b.node("logits", "Linear", {h, d.w(untied_head ? "lm_head.weight" : c.decoder_table()), bias});
  d.b.output("logits");
  d.b.output("cross_attention");
  return d.b.take();
}

}  // namespace

// transformers' generation_config.json beside the checkpoint: kept whole in the
// model's metadata for generation (Generator::default_options); its
// forced_eos_token_id takes precedence over config.json's, as in transformers.
void read_generation_config(const std::string& dir, MarianConfig& c, std::map<std::string, std::string>& metadata) {
  const std::string path = dir + "/generation_config.json";
  if (!std::filesystem::exists(path)) return;
  ConfigReader r(path, "the generation config");
  if (r.raw().contains("forced_eos_token_id")) c.forced_eos = r.optional_integer("forced_eos_token_id", -1);
  if (c.forced_eos >= c.dec_vocab) r.fail(fmt::format("'forced_eos_token_id' {} is outside the vocabulary", c.forced_eos));
  metadata["generation_config"] = r.raw().dump();
  metadata["generation_config_path"] = path;
}

ir::GraphFile import_marian(const std::string& dir, WeightStore& weights) {
  MarianConfig c = read_config(dir);
  std::map<std::string, std::string> generation;
  read_generation_config(dir, c, generation);
  weights.add_file(read_model_weights(dir, "Marian weights"));
  bool untied = !c.tied && weights.find("lm_head.weight");
  ir::GraphFile file;
  file.graphs["encoder"] = encoder_graph(c);
  file.graphs["cross_kv"] = cross_kv_graph(c);
  file.graphs["decoder_step"] = decoder_step_graph(c, untied);
  file.metadata = {{"architecture", "marian"},
                   {"decoder_layers", std::to_string(c.dec_layers)},
                   {"decoder_heads", std::to_string(c.dec_heads)},
                   {"head_dim", std::to_string(c.d_model / c.dec_heads)},
                   {"max_positions", std::to_string(c.max_pos)},
                   {"vocab_size", std::to_string(c.dec_vocab)},
                   {"pad_token_id", std::to_string(c.pad)},
                   {"eos_token_id", std::to_string(c.eos)},
                   {"decoder_start_token_id", std::to_string(c.start)},
                   {"forced_eos_token_id", std::to_string(c.forced_eos)}};
  file.metadata.insert(generation.begin(), generation.end());
  return file;
}

}  // namespace heed
