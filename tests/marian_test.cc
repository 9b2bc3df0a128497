// Hugging Face Marian checkpoints (random init, saved by save_pretrained: see
// tests/reference/gen_marian_fixtures.py) through heed's importer: the encoder
// output, greedy generations token for token with their log-probability sums,
// and a batch equal to its sources run one by one.
#include <heed/error.h>
#include <heed/generate.h>
#include <heed/translate.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/model_impl.h"
#include "engine/quantize.h"
#include "engine/safetensors.h"
#include "tests/seeded_weights.h"
#include "tests/test_util.h"

namespace heed {
namespace {

struct Fixture {
  SafetensorsFile io;
  std::vector<std::vector<int64_t>> sources, expected;
  explicit Fixture(const std::string& name) : io(read_safetensors(test::fixture("marian_" + name + "_io.safetensors"))) {
    const Tensor &src = *io.find("src"), &mask = *io.find("src_mask"), &gen = *io.find("generated");
    int64_t B = src.shape()[0], S = src.shape()[1], G = gen.shape()[1];
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int64_t> s, g;
      for (int64_t j = 0; j < S; ++j)
        if (mask.data_as<int64_t>()[b * S + j]) s.push_back(src.data_as<int64_t>()[b * S + j]);
      for (int64_t j = 0; j < G; ++j) {
        g.push_back(gen.data_as<int64_t>()[b * G + j]);
        if (g.back() == 0) break;  // EOS; transformers pads after it
      }
      sources.push_back(s);
      expected.push_back(g);
    }
  }
  int max_new() const { return int(io.find("max_new_tokens")->data_as<int64_t>()[0]); }
};

class Marian : public ::testing::TestWithParam<std::string> {};

TEST_P(Marian, EncoderMatchesTransformers) {
  Fixture f(GetParam());
  Model model = Model::load(test::fixture("marian_" + GetParam()));
  const Tensor& src = *f.io.find("src");
  int64_t B = src.shape()[0], S = src.shape()[1];
  Tensor positions = Tensor::empty(DType::i64, {S}), pad = Tensor::empty(DType::boolean, {B, S});
  for (int64_t j = 0; j < S; ++j) positions.data_as<int64_t>()[j] = j;
  for (int64_t i = 0; i < B * S; ++i) pad.data_as<uint8_t>()[i] = f.io.find("src_mask")->data_as<int64_t>()[i] == 0;
  Session enc(model, {"encoder", 2});
  Tensor out = enc.run({{"input_ids", src}, {"positions", positions}, {"src_pad", pad}}).at("encoder_out");
  EXPECT_TRUE(test::all_close(out, *f.io.find("encoder_out"), 1e-4, 1e-5));
}

TEST_P(Marian, GreedyMatchesTransformersTokenForToken) {
  Fixture f(GetParam());
  Model model = Model::load(test::fixture("marian_" + GetParam()));
  Generator gen(model, 2);
  GenerationOptions o;
  o.max_new_tokens = f.max_new();
  std::vector<Generation> batch = gen.generate(f.sources, o);
  ASSERT_EQ(batch.size(), f.expected.size());
  const float* scores = f.io.find("scores")->data_as<float>();
  for (size_t b = 0; b < batch.size(); ++b) {
    EXPECT_EQ(batch[b].tokens, f.expected[b]) << "source " << b;
    EXPECT_NEAR(batch[b].score, scores[b], 1e-4 * std::abs(scores[b]) + 1e-4) << "source " << b;
    std::vector<Generation> alone = gen.generate({f.sources[b]}, o);
    EXPECT_EQ(alone[0].tokens, batch[b].tokens) << "source " << b << " alone";
  }
}

TEST_P(Marian, ReturnsCrossAttentionPerToken) {
  Fixture f(GetParam());
  Model model = Model::load(test::fixture("marian_" + GetParam()));
  Generator gen(model, 1);
  GenerationOptions o;
  o.max_new_tokens = 4;
  o.return_attention = true;
  Generation g = gen.generate({f.sources[0]}, o)[0];
  ASSERT_EQ(g.attention.size(), g.tokens.size());
  EXPECT_TRUE(test::attention_rows_ok(g.attention, f.sources[0].size()));
}

INSTANTIATE_TEST_SUITE_P(Transformers, Marian, ::testing::Values("tiny", "deep"));

// share_encoder_decoder_embeddings = false (some opus-mt pairs): separate
// encoder and decoder tables of different sizes, and separate tokenizer
// vocabularies (vocab.json, target_vocab.json), against transformers'
// MarianTokenizer(separate_vocabs=True) and generate()
// (tests/reference/gen_marian_separate_vocabs.py).
TEST(MarianImport, SeparateVocabulariesTranslateAsTransformers) {
  const std::string dir = test::fixture("marian_separate");
  Translator translator(dir, TranslatorOptions{1});
  GenerationOptions o;
  o.max_new_tokens = 10;
  const nlohmann::json cases = nlohmann::json::parse(std::ifstream(test::fixture("marian_separate_io.json")));
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(translator.encode(text), c["ids"].get<std::vector<int64_t>>()) << text;
    std::vector<Translation> t = translator.translate({text}, o);
    EXPECT_EQ(t[0].text, c["decoded"].get<std::string>()) << text;
    EXPECT_EQ(translator.generator().generate({c["ids"].get<std::vector<int64_t>>()}, o)[0].tokens,
              c["generated"].get<std::vector<int64_t>>()) << text;
  }
  EXPECT_EQ(std::stoll(translator.model().metadata().at("vocab_size")), 42);  // the decoder's
}

// A config.json without activation_function means gelu, as transformers'
// MarianConfig defaults it (heed assumed swish): the "deep" fixture was made
// with gelu, so without the key it must still generate what transformers did.
TEST(MarianImport, MissingActivationDefaultsToGeluAsTransformers) {
  Fixture f("deep");
  const std::string dir = test::temp_dir();
  for (const char* file : {"model.safetensors", "generation_config.json"})
    std::filesystem::copy_file(test::fixture(std::string("marian_deep/") + file), dir + "/" + file);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(test::fixture("marian_deep/config.json")));
  ASSERT_EQ(config["activation_function"], "gelu");
  config.erase("activation_function");
  test::write_file(dir, "config.json", config.dump());
  Generator gen(Model::load(dir), 1);
  GenerationOptions o;
  o.max_new_tokens = f.max_new();
  std::vector<Generation> out = gen.generate(f.sources, o);
  for (size_t b = 0; b < out.size(); ++b) EXPECT_EQ(out[b].tokens, f.expected[b]) << "source " << b;
}

TEST(MarianImport, RefusesWhatItDoesNotSupport) {
  std::string dir = test::temp_dir();
  auto expect = [&](const std::string& config, const std::string& error) {
    test::write_file(dir, "config.json", config);
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, error)) << config;
  };
  expect(R"({"model_type": "bart"})", "model_type is \"bart\", expected \"marian\"");
  expect(R"({"model_type": "marian", "normalize_before": true})", "normalize_before = true (pre-LayerNorm) is not supported");
  // Missing keys take transformers' MarianConfig defaults (16 heads here).
  expect(R"({"model_type": "marian", "d_model": 8})", "'encoder_attention_heads' is 16, expected 1 to 8");
  expect(R"({"model_type": "marian", "d_model": 8, "encoder_attention_heads": 0})", "'encoder_attention_heads' is 0, expected 1 to 8");
  expect(R"({"model_type": "marian", "encoder_layers": 100000})", "'encoder_layers' is 100000, expected 1 to 1024");
  expect(R"({"model_type": "marian", "d_model": 8, "encoder_layers": "x"})", "'encoder_layers' is missing or not an integer");
  expect(R"({"model_type": "marian", "d_model": 8, "encoder_attention_heads": 2, "decoder_attention_heads": 2, "vocab_size": 10,
    "pad_token_id": 9, "eos_token_id": 0})", "'decoder_start_token_id' is 58100, expected 0 to 9");
  expect(R"({"model_type": "marian", "d_model": 8, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "vocab_size": 10, "max_position_embeddings": 8, "pad_token_id": 9, "eos_token_id": 0,
    "activation_function": "mish"})", "activation_function \"mish\" is not supported");
  expect(R"({"model_type": "marian", "d_model": 8, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "vocab_size": 10, "max_position_embeddings": 8, "pad_token_id": 9, "eos_token_id": 0,
    "decoder_start_token_id": 9})", "model.safetensors: missing");
  expect("{not json", "config.json: invalid JSON");
}

TEST(MarianImport, OutOfRangeTokenIdIsAnError) {
  Model model = Model::load(test::fixture("marian_tiny"));
  Generator gen(model, 1);
  EXPECT_TRUE(test::throws_error_with([&] { gen.generate({{3, 64, 0}}); }, "index 64 at position 1 is out of range [0, 64)"));
  EXPECT_THROW(gen.generate({{}}), Error);
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// Beam search against transformers' generate(num_beams=k, num_return_sequences=k):
// the same n-best hypotheses in the same order with the same normalized scores.
TEST_P(Marian, BeamSearchMatchesTransformers) {
  Fixture f(GetParam());
  Model model = Model::load(test::fixture("marian_" + GetParam()));
  Generator gen(model, 2);
  for (int k : {3, 4}) {
    std::string key = "beam" + std::to_string(k);
    const Tensor &seqs = *f.io.find(key + ".sequences"), &scores = *f.io.find(key + ".scores");
    GenerationOptions o;
    o.beam_size = k;
    o.num_hypotheses = k;
    o.length_penalty = f.io.find(key + ".length_penalty")->data_as<float>()[0];
    o.max_new_tokens = f.max_new();
    auto nbest = gen.generate_n_best(f.sources, o);
    const int64_t L = seqs.shape()[1];
    for (size_t b = 0; b < nbest.size(); ++b) {
      ASSERT_EQ(nbest[b].size(), size_t(k)) << key << " source " << b;
      for (int i = 0; i < k; ++i) {
        std::vector<int64_t> want;
        for (int64_t j = 0; j < L; ++j) {
          want.push_back(seqs.data_as<int64_t>()[(int64_t(b) * k + i) * L + j]);
          if (want.back() == 0) break;
        }
        EXPECT_EQ(nbest[b][size_t(i)].tokens, want) << key << " source " << b << " hypothesis " << i;
        float s = scores.data_as<float>()[b * size_t(k) + size_t(i)];
        EXPECT_NEAR(nbest[b][size_t(i)].score, s, 1e-4 * std::abs(s) + 1e-5) << key << " source " << b << " hypothesis " << i;
      }
      auto alone = gen.generate_n_best({f.sources[b]}, o);
      EXPECT_EQ(alone[0][0].tokens, nbest[b][0].tokens) << key << " source " << b << " alone";
    }
  }
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// The decoder step, fed transformers' own greedy sequence token by token with the
// KV cache, gives transformers' teacher-forced logits at every step, within 1e-4
// plus three times what rounding alone moves them (the generator measures that by
// perturbing every weight by 1e-7 relative: these random models are chaotic).
// The step logits of a run in `precision` against transformers' fp32 ones:
// checked per step by `check(logits, expected, t)`.
// `io`: src, src_mask, decoder_input_ids and transformers' step_logits [B, T, V];
// `precision` unset: as the model stores it.
void for_each_step_logits(const SafetensorsFile& io, const std::string& model_path, std::optional<Precision> precision,
                          const std::function<void(const Tensor&, const Tensor&, int64_t)>& check) {
  LoadOptions options;
  options.precision = precision;
  Model model = Model::load(model_path, options);
  const Tensor &src = *io.find("src"), &dec = *io.find("decoder_input_ids"), &want = *io.find("step_logits");
  const int64_t B = src.shape()[0], S = src.shape()[1], T = dec.shape()[1], V = want.shape()[2];
  const auto& meta = model.impl().metadata();
  const int64_t layers = std::stoll(meta.at("decoder_layers")), heads = std::stoll(meta.at("decoder_heads")),
                hd = std::stoll(meta.at("head_dim"));
  Tensor positions = Tensor::empty(DType::i64, {S}), pad = Tensor::empty(DType::boolean, {B, S});
  for (int64_t j = 0; j < S; ++j) positions.data_as<int64_t>()[j] = j;
  for (int64_t i = 0; i < B * S; ++i) pad.data_as<uint8_t>()[i] = io.find("src_mask")->data_as<int64_t>()[i] == 0;
  Session enc(model, {"encoder", 2}), cross(model, {"cross_kv", 2}), step(model, {"decoder_step", 2});
  TensorMap in = cross.run({{"encoder_out", enc.run({{"input_ids", src}, {"positions", positions}, {"src_pad", pad}}).at("encoder_out")}});
  in["src_pad"] = pad;
  for (int64_t l = 0; l < layers; ++l)
    for (const char* kv : {"k", "v"}) in[std::string("cache_") + kv + "." + std::to_string(l)] = Tensor::zeros(DType::f32, {B, heads, T, hd});
  for (int64_t t = 0; t < T; ++t) {
    Tensor ids = Tensor::empty(DType::i64, {B, 1}), pos = Tensor::empty(DType::i64, {1}), fill = Tensor::empty(DType::i64, {});
    for (int64_t b = 0; b < B; ++b) ids.data_as<int64_t>()[b] = dec.data_as<int64_t>()[b * T + t];
    pos.data_as<int64_t>()[0] = fill.data_as<int64_t>()[0] = t;
    in["input_ids"] = ids;
    in["positions"] = pos;
    in["position"] = fill;
    Tensor logits = step.run(in).at("logits");
    Tensor expected = Tensor::empty(DType::f32, {B, 1, V});
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(expected.data_as<float>() + b * V, want.data_as<float>() + (b * T + t) * V, size_t(V) * sizeof(float));
    check(logits, expected, t);
  }
}

TEST_P(Marian, StepLogitsMatchTransformers) {
  Fixture f(GetParam());
  for_each_step_logits(f.io, test::fixture("marian_" + GetParam()), Precision::f32, [&](const Tensor& logits, const Tensor& expected, int64_t t) {
    double atol = 1e-4 + 3.0 * f.io.find("step_sensitivity")->data_as<float>()[t];
    EXPECT_TRUE(test::all_close(logits, expected, 1e-4, atol)) << "step " << t << ", atol " << atol;
  });
}

// In bf16 and int8 the step logits stay within a stated distance of transformers'
// fp32 ones: the largest difference over each step's logits at most `share` of
// their largest magnitude (measured 0.9% in bf16 and 7.8% in int8 on this
// random model of width 24: int8's per-row scales are coarse over 24 values).
// The "tiny" fixture is left out: its random weights amplify a 1e-7 relative
// perturbation about 800 times (its step_sensitivity), so bf16's rounding alone
// moves its logits by their own size.
// The largest difference of any step's logits from the expected ones, relative
// to their largest magnitude; fails the test where it exceeds `share`.
double worst_step_logits(const SafetensorsFile& io, const std::string& model, std::optional<Precision> precision,
                         double share) {
  double worst = 0;
  const std::string what = model + (precision ? " in " + std::string(precision_name(*precision)) : " as stored");
  for_each_step_logits(io, model, precision, [&](const Tensor& logits, const Tensor& expected, int64_t t) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
      diff = std::max(diff, double(std::abs(logits.data_as<float>()[i] - expected.data_as<float>()[i])));
      scale = std::max(scale, double(std::abs(expected.data_as<float>()[i])));
    }
    worst = std::max(worst, diff / scale);
    EXPECT_LE(diff, share * scale) << what << ", step " << t;
  });
  std::cout << what << ": largest step-logit difference " << worst << " of the largest magnitude\n";
  return worst;
}

TEST(MarianPrecision, DeepStepLogitsStayCloseInBf16AndInt8) {
  Fixture f("deep");
  for (auto [precision, share] : {std::pair{Precision::bf16, 0.02}, std::pair{Precision::int8, 0.10}}) {
    if (std::string why; !test::precision_runs_here(precision, &why)) {
      std::cout << "[ SKIPPED  ] " << precision_name(precision) << ": " << why << "\n";
      continue;
    }
    worst_step_logits(f.io, test::fixture("marian_deep"), precision, share);
  }
}

// An fp32 model loaded in a precision runs as the file `heed quantize` writes
// does: its embeddings, tied to the output projection, are stored in the
// precision once and the lookups read those values (engine/projection_weights.h);
// with the fp32 table kept for the lookups, the logits differed (and the table
// held 4x the bytes). Every step's logits equal the file's.
TEST(MarianPrecision, LoadedInAPrecisionRunsAsTheQuantizedFile) {
  Fixture f("deep");
  for (Precision precision : {Precision::bf16, Precision::int8}) {
    if (std::string why; !test::precision_runs_here(precision, &why)) {
      std::cout << "[ SKIPPED  ] " << precision_name(precision) << ": " << why << "\n";
      continue;
    }
    const std::string model = test::fixture("marian_deep");
    const std::string quantized = test::temp_dir() + "/deep-" + std::string(precision_name(precision));
    quantize_model(model, quantized, precision);
    std::vector<Tensor> from_file;
    for_each_step_logits(f.io, quantized, std::nullopt,
                         [&](const Tensor& logits, const Tensor&, int64_t) { from_file.push_back(logits); });
    EXPECT_NE(Model::load(model, {.precision = precision}).describe().find("1 lookup table(s) tied to a projection"),
              std::string::npos);
    for_each_step_logits(f.io, model, precision, [&](const Tensor& logits, const Tensor&, int64_t t) {
      EXPECT_TRUE(test::all_close(logits, from_file.at(size_t(t)), 0, 0)) << precision_name(precision) << ", step " << t;
    });
  }
}

// Opus-mt's size (tests/reference/gen_marian_opus_size.py: 74M parameters,
// seeded, rebuilt here), fed a source and random target tokens: every step's
// logits within `share` of the largest magnitude of transformers' fp32 ones, in
// fp32, bf16 and int8, loaded in the precision or from a file `heed quantize`
// wrote (whose tied embeddings are read as their int8 values too). Measured
// (Sapphire Rapids, AMX): f32 4e-7, bf16 0.17%, int8 0.70% (the files the same:
// both read the tied embeddings' stored values): at width 512 the per-row
// scales are finer than at 24 ("deep").
TEST(MarianPrecision, OpusSizedStepLogitsStayClose) {
  const std::string dir = test::temp_dir() + "/marian_opus";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(test::fixture("marian_opus/config.json"), dir + "/config.json");
  std::filesystem::rename(test::seeded_weights_file(test::fixture("marian_opus.manifest.json"), dir),
                          dir + "/model.safetensors");
  const SafetensorsFile io = read_safetensors(test::fixture("marian_opus_io.safetensors"));
  worst_step_logits(io, dir, Precision::f32, 1e-5);
  for (auto [precision, share] : {std::pair{Precision::bf16, 0.01}, std::pair{Precision::int8, 0.02}}) {
    if (std::string why; !test::precision_runs_here(precision, &why)) {
      std::cout << "[ SKIPPED  ] " << precision_name(precision) << ": " << why << "\n";
      continue;
    }
    worst_step_logits(io, dir, precision, share);
    const std::string quantized = dir + "-" + std::string(precision_name(precision));
    quantize_model(dir, quantized, precision);
    worst_step_logits(io, quantized, std::nullopt, share);
  }
}

}  // namespace
}  // namespace heed
