#include "loaders/lstm_seq2seq.h"

#include <heed/error.h>
#include <heed/limits.h>

#include <fmt/format.h>

#include "loaders/config_reader.h"
#include "loaders/graph_builder.h"
#include "loaders/rename.h"
#include "engine/safetensors.h"

namespace heed {
namespace {

using ir::Dim;
using Ints = std::vector<int64_t>;

struct LstmConfig {
  int64_t vocab, embed, hidden, layers, window, pad, eos, start, forced_eos;
  bool bidirectional, input_feeding;
  std::string attention, local_score, window_rule;
  RenameRules rename;
};

RenameRules read_rename(const ConfigReader& r) {
  RenameRules rules;
  if (!r.raw().contains("rename")) return rules;
  const auto& list = r.raw()["rename"];
  if (!list.is_array()) r.fail("'rename' must be a list of [pattern, replacement] pairs");
  for (const auto& rule : list) {
    const bool ok = rule.is_array() && (rule.size() == 2 || rule.size() == 3) && rule[0].is_string() && rule[1].is_string() &&
                    (rule.size() == 2 || rule[2] == "transpose");
    if (!ok) r.fail(fmt::format("'rename' entry {} must be [pattern, replacement] or [pattern, replacement, \"transpose\"]", rule.dump()));
    rules.push_back({rule[0].get<std::string>(), rule[1].get<std::string>(), rule.size() == 3});
  }
  return rules;
}

LstmConfig read_config(const std::string& dir) {
  ConfigReader r(dir + "/config.json", "an LSTM seq2seq model directory needs config.json");
  const char* importer = "LSTM seq2seq";
  LstmConfig c{};
  c.vocab = r.integer("vocab_size");
  c.embed = r.integer("embed_size");
  c.hidden = r.integer("hidden_size");
  c.layers = r.integer("encoder_layers");
  r.refuse_if(r.integer("decoder_layers") != c.layers, "decoder_layers different from encoder_layers", importer);
  c.bidirectional = r.flag("bidirectional_encoder", false);
  c.input_feeding = r.flag("input_feeding", true);
  c.attention = r.string("attention", "general");
  r.refuse_if(c.attention != "dot" && c.attention != "general" && c.attention != "concat" && c.attention != "local-p",
              fmt::format("attention \"{}\" (dot, general, concat or local-p)", c.attention), importer);
  c.local_score = r.string("local_score", "general");
  r.refuse_if(c.local_score != "dot" && c.local_score != "general",
              fmt::format("local_score \"{}\" (dot or general)", c.local_score), importer);
  c.window = r.integer("local_window", 3);
  c.window_rule = r.string("local_window_rule", "floor");
  r.refuse_if(c.window_rule != "floor" && c.window_rule != "distance",
              fmt::format("local_window_rule \"{}\" (floor or distance)", c.window_rule), importer);
  c.pad = r.integer("pad_token_id");
  c.eos = r.integer("eos_token_id");
  c.start = r.integer("decoder_start_token_id");
  c.forced_eos = r.integer("forced_eos_token_id", -1);
  for (int64_t v : {c.vocab, c.embed, c.hidden, c.layers})
    if (v < 1) r.fail("vocab_size, embed_size, hidden_size and the layer counts must be >= 1");
  // Far beyond real models, so that nothing built from them overflows or allocates without bound.
  if (c.vocab > limits().max_vocabulary_size || c.embed > (1 << 16) || c.hidden > (1 << 16) || c.layers > 64)
    r.fail("vocab_size, embed_size, hidden_size or a layer count is beyond heed's limits (vocabulary: "
           "heed::Limits::max_vocabulary_size; sizes: 65536; layers: 64)");
  if (c.window < 0 || c.window > (1 << 20)) r.fail("local_window must be between 0 and 2^20");
  r.refuse_if(c.bidirectional && c.hidden % 2, "a bidirectional encoder with an odd hidden_size", importer);
  for (int64_t id : {c.pad, c.eos, c.start})
    if (id < 0 || id >= c.vocab) r.fail(fmt::format("token id {} is outside the vocabulary [0, {})", id, c.vocab));
  c.rename = read_rename(r);
  return c;
}

struct Builder {
  const LstmConfig& c;
  const WeightStore& weights;
  GraphBuilder b;

  std::string w(const std::string& name) { return b.param(name); }
  std::string optional(const std::string& name) { return weights.find(name) ? b.param(name) : ""; }
  std::string flat(const std::string& weight) {  // nn.Linear(H, 1).weight [1, H] -> [H]
    return b.node(weight + ".flat", "Reshape", {w(weight)}, {{"shape", Ints{-1}}});
  }

  // nn.LSTM `prefix` (batch-first) on x; outputs y, then h_n and c_n named `h_out`, `c_out`.
  void lstm(const std::string& prefix, const std::string& x, const std::vector<std::string>& state, int64_t hidden,
            bool bidirectional, const std::string& lengths, const std::vector<std::string>& outputs) {
    std::vector<std::string> in = {x, state[0], state[1], lengths};
    for (int64_t l = 0; l < c.layers; ++l)
      for (const char* dir : {"", "_reverse"}) {
        if (!bidirectional && *dir) continue;
        std::string sfx = fmt::format("_l{}{}", l, dir);
        in.insert(in.end(), {w(prefix + ".weight_ih" + sfx), w(prefix + ".weight_hh" + sfx),
                             optional(prefix + ".bias_ih" + sfx), optional(prefix + ".bias_hh" + sfx)});
      }
    b.node(outputs[0], "LSTM", in, {{"hidden_size", hidden}, {"num_layers", c.layers},
                                    {"bidirectional", int64_t(bidirectional)}, {"batch_first", int64_t(1)}});
    b.last().outputs = outputs;
  }

  // [layers * 2, batch, hidden / 2] -> [layers, batch, hidden]: each layer's two directions side by side.
  std::string join_directions(const std::string& s, const std::string& out) {
    std::string split = b.node(s + ".split", "Reshape", {s}, {{"shape", Ints{c.layers, 2, -1, c.hidden / 2}}});
    std::string t = b.node(s + ".transposed", "Transpose", {split}, {{"perm", Ints{0, 2, 1, 3}}});
    return b.node(out, "Reshape", {t}, {{"shape", Ints{c.layers, -1, c.hidden}}});
  }
};

ir::Graph encoder_graph(const LstmConfig& c, const WeightStore& weights) {
  Builder e{c, weights, GraphBuilder("encoder")};
  e.b.input("input_ids", DType::i64, {Dim::symbol("batch"), Dim::symbol("src")});
  e.b.input("lengths", DType::i64, {Dim::symbol("batch")});
  std::string x = e.b.node("encoder.embedding", "Embedding", {"input_ids", e.w("encoder.embedding.weight")});
  const int64_t per_direction = c.bidirectional ? c.hidden / 2 : c.hidden;
  if (c.bidirectional) {
    e.lstm("encoder.rnn", x, {"", ""}, per_direction, true, "lengths", {"memory", "h_directions", "c_directions"});
    e.join_directions("h_directions", "h");
    e.join_directions("c_directions", "c");
  } else {
    e.lstm("encoder.rnn", x, {"", ""}, per_direction, false, "lengths", {"memory", "h", "c"});
  }
  for (const char* out : {"memory", "h", "c"}) e.b.output(out);
  return e.b.take();
}

// Luong attention of the decoder's top output `query` [batch, 1, hidden] over the memory.
std::string attend(Builder& d, const std::string& query) {
  const LstmConfig& c = d.c;
  const std::string a = "decoder.attention";
  if (c.attention == "local-p") {
    std::string wa = c.local_score == "general" ? d.w(a + ".linear_in.weight") : "";
    d.b.node(a, "LocalAttention", {query, "memory", "memory", "lengths", wa, d.w(a + ".W_p.weight"), d.flat(a + ".v_p.weight")},
             {{"center", std::string("predictive")}, {"left", c.window}, {"right", c.window},
              {"score", c.local_score}, {"weights", std::string("source")}, {"window_rule", c.window_rule}});
  } else {
    std::vector<std::string> in = {query, "memory", "memory", "src_pad"};
    if (c.attention == "general") in.push_back(d.w(a + ".linear_in.weight"));
    if (c.attention == "concat") in.insert(in.end(), {d.w(a + ".W_a.weight"), "", d.flat(a + ".v_a.weight")});
    d.b.node(a, "GlobalAttention", in, {{"score", c.attention}});
  }
  d.b.last().outputs = {a, "attention"};
  return a;
}

ir::Graph decoder_step_graph(const LstmConfig& c, const WeightStore& weights) {
  Builder d{c, weights, GraphBuilder("decoder_step")};
  const Dim batch = Dim::symbol("batch"), layers = Dim::known(c.layers), hidden = Dim::known(c.hidden);
  d.b.input("input_ids", DType::i64, {batch, Dim::known(1)});
  d.b.input("h", DType::f32, {layers, batch, hidden});
  d.b.input("c", DType::f32, {layers, batch, hidden});
  if (c.input_feeding) d.b.input("feed", DType::f32, {batch, hidden});
  d.b.input("memory", DType::f32, {batch, Dim::symbol("src"), hidden});
  if (c.attention == "local-p")
    d.b.input("lengths", DType::i64, {batch});
  else
    d.b.input("src_pad", DType::boolean, {batch, Dim::symbol("src")});
  std::string x = d.b.node("decoder.embedding", "Embedding", {"input_ids", d.w("decoder.embedding.weight")});
  if (c.input_feeding) {
    std::string feed = d.b.node("feed.step", "Reshape", {"feed"}, {{"shape", Ints{0, 1, c.hidden}}});
    x = d.b.node("decoder.input", "Concat", {x, feed}, {{"axis", int64_t(2)}});
  }
  d.lstm("decoder.rnn", x, {"h", "c"}, c.hidden, false, "", {"decoder.rnn", "h_out", "c_out"});
  std::string context = attend(d, "decoder.rnn");
  std::string joined = d.b.node("decoder.attention.joined", "Concat", {context, "decoder.rnn"}, {{"axis", int64_t(2)}});
  std::string h_tilde = d.b.node("decoder.attention.linear_out", "Linear",
                                 {joined, d.w("decoder.attention.linear_out.weight"), d.optional("decoder.attention.linear_out.bias")},
                                 {{"activation", std::string("tanh")}});
  d.b.node("logits", "Linear", {h_tilde, d.w("generator.weight"), d.optional("generator.bias")});
  for (const char* out : {"logits", "h_out", "c_out"}) d.b.output(out);
  if (c.input_feeding) d.b.output(d.b.node("feed_out", "Reshape", {h_tilde}, {{"shape", Ints{0, c.hidden}}}));
  d.b.output("attention");
  return d.b.take();
}

}  // namespace

ir::GraphFile import_lstm_seq2seq(const std::string& dir, WeightStore& weights) {
  LstmConfig c = read_config(dir);
  SafetensorsFile file = read_model_weights(dir, "LSTM seq2seq weights");
  rename_tensors(file, c.rename, dir + "/config.json");
  weights.add_file(file);
  ir::GraphFile graphs;
  graphs.graphs["encoder"] = encoder_graph(c, weights);
  graphs.graphs["decoder_step"] = decoder_step_graph(c, weights);
  graphs.metadata = {{"architecture", "lstm_seq2seq"},
                     {"vocab_size", std::to_string(c.vocab)},
                     {"pad_token_id", std::to_string(c.pad)},
                     {"eos_token_id", std::to_string(c.eos)},
                     {"decoder_start_token_id", std::to_string(c.start)},
                     {"forced_eos_token_id", std::to_string(c.forced_eos)}};
  return graphs;
}

}  // namespace heed
