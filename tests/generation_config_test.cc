// A Marian checkpoint's generation_config.json honoured as transformers'
// generate() honours it (bad_words_ids, num_beams, max_length, min_length,
// length_penalty, repetition_penalty, no_repeat_ngram_size), against the tokens
// transformers generated (tests/reference/gen_generation_config_fixtures.py).
// <pad> has the top logit in this model: without bad_words_ids it is all a
// search would emit.
#include <heed/generate.h>
#include <heed/model.h>

#include <filesystem>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

struct Expected {
  SafetensorsFile io = read_safetensors(test::fixture("marian_gencfg_io.safetensors"));
  std::vector<std::vector<int64_t>> sources() const {
    const Tensor &src = *io.find("src"), &mask = *io.find("src_mask");
    std::vector<std::vector<int64_t>> out(size_t(src.shape()[0]));
    for (int64_t b = 0; b < src.shape()[0]; ++b)
      for (int64_t j = 0; j < src.shape()[1]; ++j)
        if (mask.data_as<int64_t>()[b * src.shape()[1] + j]) out[size_t(b)].push_back(src.data_as<int64_t>()[b * src.shape()[1] + j]);
    return out;
  }
  std::vector<int64_t> tokens(const char* name, int64_t b) const {  // -1 marks the end
    const Tensor& t = *io.find(name);
    std::vector<int64_t> out;
    for (int64_t j = 0; j < t.shape()[1] && t.data_as<int64_t>()[b * t.shape()[1] + j] >= 0; ++j)
      out.push_back(t.data_as<int64_t>()[b * t.shape()[1] + j]);
    return out;
  }
};

TEST(GenerationConfig, DefaultsComeFromTheModelsGenerationConfig) {
  Generator gen(Model::load(test::fixture("marian_gencfg")), 1);
  GenerationOptions o = gen.default_options();
  EXPECT_EQ(o.beam_size, 3);
  EXPECT_EQ(o.max_new_tokens, 11);  // max_length counts the decoder's start token
  EXPECT_EQ(o.min_new_tokens, 4);
  EXPECT_FLOAT_EQ(o.length_penalty, 0.8f);
  EXPECT_FLOAT_EQ(o.repetition_penalty, 1.4f);
  EXPECT_EQ(o.no_repeat_ngram_size, 2);
  EXPECT_EQ(o.bad_words_ids, (std::vector<std::vector<int64_t>>{{47}}));
}

TEST(GenerationConfig, BeamAndGreedyEqualTransformersGenerate) {
  Expected fx;
  Generator gen(Model::load(test::fixture("marian_gencfg")), 1);
  GenerationOptions o = gen.default_options();
  std::vector<Generation> beam = gen.generate(fx.sources(), o);
  o.beam_size = 1;
  std::vector<Generation> greedy = gen.generate(fx.sources(), o);
  for (int64_t b = 0; b < 3; ++b) {
    EXPECT_EQ(beam[size_t(b)].tokens, fx.tokens("beam", b)) << "source " << b;
    EXPECT_EQ(greedy[size_t(b)].tokens, fx.tokens("greedy", b)) << "source " << b;
  }
  // The same search without the processors emits <pad>, as transformers' does.
  o.bad_words_ids.clear();
  o.repetition_penalty = 1.f;
  o.no_repeat_ngram_size = 0;
  std::vector<Generation> unbanned = gen.generate(fx.sources(), o);
  for (int64_t b = 0; b < 3; ++b) EXPECT_EQ(unbanned[size_t(b)].tokens, fx.tokens("unbanned_greedy", b)) << "source " << b;
}

TEST(GenerationConfig, BadConfigsAreOneLineErrors) {
  std::string dir = test::temp_dir();
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(test::fixture(std::string("marian_gencfg/") + f), dir + "/" + f);
  auto expect = [&](const std::string& text, const std::string& error) {
    test::write_file(dir, "generation_config.json", text);
    EXPECT_TRUE(test::throws_error_with([&] { Generator(Model::load(dir), 1); }, error)) << text;
  };
  expect(R"({"bad_words_ids": [47]})", "generation_config.json: 'bad_words_ids' must be a list of lists of token ids");
  expect(R"({"num_beams": "four"})", "generation_config.json: 'num_beams' must be an integer");
  expect(R"({"forced_eos_token_id": 480})", "generation_config.json: 'forced_eos_token_id' 480 is outside the vocabulary");
  expect("{", "generation_config.json: invalid JSON");
}

}  // namespace
}  // namespace heed
