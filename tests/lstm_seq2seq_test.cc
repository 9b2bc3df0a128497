// heed's LSTM seq2seq with Luong attention (python/heed_lstm.py, random init: see
// tests/reference/gen_lstm_fixtures.py) through heed's importer, against the
// PyTorch module: encoder outputs and final states, logits and attention at every
// decoder step, greedy and beam search (the reference search equals transformers'
// generate(), which the generator script checks), batched = one by one.
#include <heed/error.h>
#include <heed/generate.h>

#include <cstring>
#include <fstream>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/model_impl.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

std::vector<int64_t> ids_of(const Tensor& t) { return {t.data_as<int64_t>(), t.data_as<int64_t>() + t.shape().numel()}; }

struct Fixture {
  std::string name;
  SafetensorsFile io;
  Model model;
  std::vector<std::vector<int64_t>> sources, greedy;
  explicit Fixture(const std::string& n)
      : name(n), io(read_safetensors(test::fixture("lstm_" + n + "_io.safetensors"))),
        model(Model::load(test::fixture("lstm_" + n))) {
    const Tensor &src = *io.find("src"), &gen = *io.find("generated");
    const int64_t B = src.shape()[0], S = src.shape()[1], G = gen.shape()[1];
    for (int64_t b = 0; b < B; ++b) {
      int64_t len = io.find("lengths")->data_as<int64_t>()[b];
      sources.emplace_back(src.data_as<int64_t>() + b * S, src.data_as<int64_t>() + b * S + len);
      std::vector<int64_t> g;
      for (int64_t j = 0; j < G; ++j) {
        g.push_back(gen.data_as<int64_t>()[b * G + j]);
        if (g.back() == 0) break;  // EOS
      }
      greedy.push_back(g);
    }
  }
  int max_new() const { return int(io.find("max_new_tokens")->data_as<int64_t>()[0]); }
  // Row t of a [B, T, X] reference as a [B, 1, X] tensor.
  Tensor step_slice(const std::string& key, int64_t t) const {
    const Tensor& all = *io.find(key);
    const int64_t B = all.shape()[0], T = all.shape()[1], X = all.shape()[2];
    Tensor out = Tensor::empty(DType::f32, {B, 1, X});
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(out.data_as<float>() + b * X, all.data_as<float>() + (b * T + t) * X, size_t(X) * sizeof(float));
    return out;
  }
};

class LstmSeq2Seq : public ::testing::TestWithParam<std::string> {};

TEST_P(LstmSeq2Seq, EncoderMatchesPyTorch) {
  Fixture f(GetParam());
  Session enc(f.model, {"encoder", 2});
  TensorMap out = enc.run({{"input_ids", *f.io.find("src")}, {"lengths", *f.io.find("lengths")}});
  for (const char* name : {"memory", "h", "c"})
    EXPECT_TRUE(test::all_close(out.at(name), *f.io.find(name), 1e-5, 1e-5)) << name;
}

// The decoder step fed PyTorch's greedy sequence, its state carried from each
// step's outputs: logits and attention at every step.
TEST_P(LstmSeq2Seq, StepLogitsAndAttentionMatchPyTorch) {
  Fixture f(GetParam());
  Session enc(f.model, {"encoder", 2}), step(f.model, {"decoder_step", 2});
  const Tensor &src = *f.io.find("src"), &dec = *f.io.find("decoder_input_ids");
  const int64_t B = src.shape()[0], T = dec.shape()[1];
  TensorMap e = enc.run({{"input_ids", src}, {"lengths", *f.io.find("lengths")}});
  TensorMap in;
  for (const ValueInfo& v : f.model.inputs("decoder_step")) {
    if (v.name == "src_pad") {
      Tensor pad = Tensor::empty(DType::boolean, src.shape());
      for (int64_t i = 0; i < src.shape().numel(); ++i)
        pad.data_as<uint8_t>()[i] = (i % src.shape()[1]) >= f.io.find("lengths")->data_as<int64_t>()[i / src.shape()[1]];
      in[v.name] = pad;
    } else if (v.name == "lengths") {
      in[v.name] = *f.io.find("lengths");
    } else if (v.name == "feed") {
      in[v.name] = Tensor::zeros(DType::f32, {B, std::stoll(v.dims[1])});
    } else if (v.name != "input_ids") {
      in[v.name] = e.at(v.name);
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    Tensor ids = Tensor::empty(DType::i64, {B, 1});
    for (int64_t b = 0; b < B; ++b) ids.data_as<int64_t>()[b] = dec.data_as<int64_t>()[b * T + t];
    in["input_ids"] = ids;
    TensorMap out = step.run(in);
    EXPECT_TRUE(test::all_close(out.at("logits"), f.step_slice("step_logits", t), 1e-4, 1e-4)) << "step " << t;
    EXPECT_TRUE(test::all_close(out.at("attention"), f.step_slice("step_attention", t), 1e-4, 1e-5)) << "step " << t;
    for (const char* s : {"h", "c", "feed"})
      if (in.count(s)) in[s] = out.at(std::string(s) + "_out");
  }
}

TEST_P(LstmSeq2Seq, GreedyMatchesPyTorchTokenForToken) {
  Fixture f(GetParam());
  Generator gen(f.model, 2);
  GenerationOptions o;
  o.max_new_tokens = f.max_new();
  std::vector<Generation> batch = gen.generate(f.sources, o);
  const float* scores = f.io.find("scores")->data_as<float>();
  for (size_t b = 0; b < batch.size(); ++b) {
    EXPECT_EQ(batch[b].tokens, f.greedy[b]) << "source " << b;
    EXPECT_NEAR(batch[b].score, scores[b], 1e-4 * std::abs(scores[b]) + 1e-4) << "source " << b;
    EXPECT_EQ(gen.generate({f.sources[b]}, o)[0].tokens, batch[b].tokens) << "source " << b << " alone";
  }
  o.min_new_tokens = 6;
  batch = gen.generate(f.sources, o);
  for (size_t b = 0; b < batch.size(); ++b)
    EXPECT_EQ(batch[b].tokens, ids_of(*f.io.find("min6." + std::to_string(b)))) << "min length 6, source " << b;
}

TEST_P(LstmSeq2Seq, BeamSearchMatchesReference) {
  Fixture f(GetParam());
  Generator gen(f.model, 2);
  for (int k : {3, 4}) {
    std::string key = "beam" + std::to_string(k);
    GenerationOptions o;
    o.beam_size = o.num_hypotheses = k;
    o.length_penalty = f.io.find(key + ".length_penalty")->data_as<float>()[0];
    o.max_new_tokens = f.max_new();
    auto nbest = gen.generate_n_best(f.sources, o);
    for (size_t b = 0; b < nbest.size(); ++b) {
      for (int i = 0;; ++i) {
        std::string h = fmt::format("{}.{}.{}", key, b, i);
        if (!f.io.find(h)) {
          EXPECT_EQ(nbest[b].size(), size_t(i)) << h;
          break;
        }
        ASSERT_LT(size_t(i), nbest[b].size()) << h;
        EXPECT_EQ(nbest[b][size_t(i)].tokens, ids_of(*f.io.find(h))) << h;
        float s = f.io.find(h + ".score")->data_as<float>()[0];
        EXPECT_NEAR(nbest[b][size_t(i)].score, s, 1e-4 * std::abs(s) + 1e-5) << h;
      }
      EXPECT_EQ(gen.generate_n_best({f.sources[b]}, o)[0][0].tokens, nbest[b][0].tokens) << key << " source " << b << " alone";
    }
  }
}

TEST_P(LstmSeq2Seq, ReturnsAttentionPerToken) {
  Fixture f(GetParam());
  Generator gen(f.model, 1);
  GenerationOptions o;
  o.max_new_tokens = 5;
  o.return_attention = true;
  for (int beam : {1, 2}) {
    o.beam_size = beam;
    Generation g = gen.generate({f.sources[0]}, o)[0];
    ASSERT_EQ(g.attention.size(), g.tokens.size());
    // Global attention sums to 1; local-p's Gaussian weighting scales it down.
    EXPECT_TRUE(test::attention_rows_ok(g.attention, f.sources[0].size(), GetParam() != "localp"));
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, LstmSeq2Seq, ::testing::Values("dot", "general_bi", "concat", "localp"));

// The PyTorch seq2seq/chatbot tutorials' Luong "general" score is
// h_t . (W_a h_s), heed's (OpenNMT's) is (W h_t) . h_s: the same model when
// W = W_a^T. A tutorial-style checkpoint (its attn.attn.weight holds W_a, the
// transpose of the fixture's linear_in) loads through a transposing rename rule
// and gives PyTorch's tokens; without the transpose it runs, and is wrong.
TEST(LstmSeq2SeqImport, TutorialGeneralScoreLoadsThroughATransposingRename) {
  Fixture f("general_bi");
  std::string dir = test::temp_dir();
  SafetensorsFile weights = read_safetensors(test::fixture("lstm_general_bi/model.safetensors"));
  NamedTensors tutorial;
  for (const auto& [name, t] : weights.tensors) {
    if (name != "dec.attn.linear_in.weight") {  // the fixture's own names go through its rename rules
      tutorial.emplace_back(name, t);
      continue;
    }
    Tensor wt = Tensor::empty(DType::f32, {t.shape()[1], t.shape()[0]});
    for (int64_t i = 0; i < t.shape()[0]; ++i)
      for (int64_t j = 0; j < t.shape()[1]; ++j) wt.data_as<float>()[j * t.shape()[0] + i] = t.data_as<float>()[i * t.shape()[1] + j];
    tutorial.emplace_back("decoder.attn.attn.weight", wt);
  }
  write_safetensors(dir + "/model.safetensors", tutorial);
  const nlohmann::json fixture_config = nlohmann::json::parse(std::ifstream(test::fixture("lstm_general_bi/config.json")));
  nlohmann::json config = fixture_config;
  GenerationOptions o;
  o.max_new_tokens = f.max_new();
  for (bool transpose : {true, false}) {
    nlohmann::json rule = {"^decoder\\.attn\\.attn\\.weight$", "decoder.attention.linear_in.weight"};
    if (transpose) rule.push_back("transpose");
    config["rename"] = fixture_config["rename"];
    config["rename"].push_back(rule);
    test::write_file(dir, "config.json", config.dump());
    Generator gen(Model::load(dir), 1);
    std::vector<Generation> out = gen.generate(f.sources, o);
    bool all_equal = true;
    for (size_t b = 0; b < out.size(); ++b) all_equal &= out[b].tokens == f.greedy[b];
    EXPECT_EQ(all_equal, transpose) << (transpose ? "with" : "without") << " the transpose";
  }
  config["rename"] = nlohmann::json::parse(R"([["a", "b", "flip"]])");
  test::write_file(dir, "config.json", config.dump());
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, "must be [pattern, replacement] or [pattern, replacement, \"transpose\"]"));
}

TEST(LstmSeq2SeqImport, RefusesBadConfigsAndWeights) {
  std::string dir = test::temp_dir();
  const std::string base = R"("model_type": "heed_lstm_seq2seq", "vocab_size": 40, "embed_size": 16, "hidden_size": 24,
    "encoder_layers": 1, "decoder_layers": 1, "pad_token_id": 39, "eos_token_id": 0, "decoder_start_token_id": 39)";
  auto expect = [&](const std::string& config, const std::string& error) {
    test::write_file(dir, "config.json", "{" + config + "}");
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, error)) << config;
  };
  expect(base + R"(, "attention": "bahdanau")", "attention \"bahdanau\" (dot, general, concat or local-p) is not supported");
  expect(base + R"(, "decoder_layers": 2)", "decoder_layers different from encoder_layers is not supported");
  expect(R"("model_type": "heed_lstm_seq2seq", "vocab_size": 40)", "'embed_size' is missing or not an integer");
  expect(base + R"(, "eos_token_id": 40)", "token id 40 is outside the vocabulary [0, 40)");
  expect(base + R"(, "rename": {"a": "b"})", "'rename' must be a list of [pattern, replacement] pairs");
  expect(base, "model.safetensors: missing (the LSTM seq2seq weights)");
  std::filesystem::copy_file(test::fixture("lstm_dot/model.safetensors"), dir + "/model.safetensors");
  expect(base, "needs weight 'decoder.attention.linear_in.weight', which");  // general attention, dot weights
  const std::string dot = base + R"(, "attention": "dot")";
  expect(dot + R"(, "rename": [["(", "x"]])", "rename pattern \"(\" is not a valid regular expression");
  expect(dot + R"(, "rename": [["^generator\\.", "gen."]])", "needs weight 'generator.weight', which");
  expect(dot + R"(, "rename": [["\\.weight_ih_l0$", ".w"], ["\\.weight_hh_l0$", ".w"]])", "gives two tensors");
  test::write_file(dir, "config.json", "{" + dot + "}");
  EXPECT_NO_THROW(Model::load(dir));
}

TEST(LstmSeq2SeqImport, OutOfRangeTokenIdIsAnError) {
  Model model = Model::load(test::fixture("lstm_dot"));
  Generator gen(model, 1);
  EXPECT_TRUE(test::throws_error_with([&] { gen.generate({{3, 40, 0}}); }, "index 40 at position 1 is out of range [0, 40)"));
}

}  // namespace
}  // namespace heed
