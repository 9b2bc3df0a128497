// The bundled demo models (examples/dates-marian and examples/dates-lstm, trained
// by scripts/train_marian_dates.py and scripts/train_lstm_dates.py): through heed
// each gives PyTorch's translations of the held-out set line for line, so the
// same exact-match accuracy.
#include <heed/generate.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/model_impl.h"
#include "engine/quantize.h"
#include "loaders/marian_tokenizer.h"
#include "tests/test_util.h"

namespace heed {
namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

// In bf16 and int8 (LoadOptions::precision) the held-out accuracy must stay
// PyTorch's fp32 accuracy; the lines may differ from PyTorch's where both are
// wrong. So too from a directory `heed quantize` wrote (stored: true), run in
// the precision it stores.
class DatesModel : public ::testing::TestWithParam<std::tuple<std::string, Precision, bool>> {};

TEST_P(DatesModel, MatchesPyTorchOnTheHeldOutSet) {
  const auto& [name, precision, stored] = GetParam();
  if (std::string why; !test::precision_runs_here(precision, &why)) GTEST_SKIP() << why;
  const std::string dir = std::string(HEED_EXAMPLES) + "/" + name;
  LoadOptions options;
  std::string load = dir;
  if (stored) {
    load = test::temp_dir() + "/" + name;
    quantize_model(dir, load, precision);
  } else {
    options.precision = precision;
  }
  Model model = Model::load(load, options);
  ASSERT_EQ(model.impl().precision(), precision);
  MarianTokenizer tok(load);
  Generator gen(model, 2);
  auto src = lines_of(dir + "/test.src"), tgt = lines_of(dir + "/test.tgt"), torch = lines_of(dir + "/test.pytorch");
  ASSERT_EQ(src.size(), tgt.size());
  ASSERT_EQ(src.size(), torch.size());
  GenerationOptions o;
  o.max_new_tokens = 24;
  size_t same_as_torch = 0, correct = 0;
  for (size_t at = 0; at < src.size(); at += 50) {
    std::vector<std::vector<int64_t>> batch;
    for (size_t i = at; i < std::min(src.size(), at + 50); ++i) batch.push_back(tok.encode(src[i]));
    auto out = gen.generate(batch, o);
    for (size_t k = 0; k < out.size(); ++k) {
      std::string text = tok.decode(out[k].tokens);
      same_as_torch += text == torch[at + k];
      correct += text == tgt[at + k];
      if (precision == Precision::f32) EXPECT_EQ(text, torch[at + k]) << "line " << at + k + 1 << ": " << src[at + k];
    }
  }
  std::ifstream mf(dir + "/metrics.json");
  double torch_accuracy = nlohmann::json::parse(mf)["exact_match_greedy_pytorch"];
  double accuracy = double(correct) / double(src.size());
  if (precision == Precision::f32) EXPECT_EQ(same_as_torch, src.size());
  EXPECT_GE(accuracy, torch_accuracy);
  EXPECT_GE(accuracy, 0.95);
}

INSTANTIATE_TEST_SUITE_P(Bundled, DatesModel,
                         ::testing::Values(std::tuple("dates-marian", Precision::f32, false),
                                           std::tuple("dates-marian", Precision::bf16, false),
                                           std::tuple("dates-marian", Precision::int8, false),
                                           std::tuple("dates-marian", Precision::bf16, true),
                                           std::tuple("dates-marian", Precision::int8, true),
                                           std::tuple("dates-lstm", Precision::f32, false),
                                           std::tuple("dates-lstm", Precision::bf16, false),
                                           std::tuple("dates-lstm", Precision::int8, false),
                                           std::tuple("dates-lstm", Precision::bf16, true),
                                           std::tuple("dates-lstm", Precision::int8, true)),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, Precision, bool>>& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::string(precision_name(std::get<1>(info.param))) +
                                           (std::get<2>(info.param) ? "_quantized_file" : "");
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace heed
