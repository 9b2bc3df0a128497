// The bundled demo models (examples/dates-marian and examples/dates-lstm, trained
// by scripts/train_marian_dates.py and scripts/train_lstm_dates.py): through heed
// each gives PyTorch's translations of the held-out set line for line, so the
// same exact-match accuracy.
#include <heed/generate.h>

#include <fstream>

#include <nlohmann/json.hpp>

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

class DatesModel : public ::testing::TestWithParam<std::string> {};

TEST_P(DatesModel, MatchesPyTorchOnTheHeldOutSet) {
  const std::string dir = std::string(HEED_EXAMPLES) + "/" + GetParam();
  Model model = Model::load(dir);
  MarianTokenizer tok(dir);
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
      EXPECT_EQ(text, torch[at + k]) << "line " << at + k + 1 << ": " << src[at + k];
    }
  }
  std::ifstream mf(dir + "/metrics.json");
  double torch_accuracy = nlohmann::json::parse(mf)["exact_match_greedy_pytorch"];
  double accuracy = double(correct) / double(src.size());
  EXPECT_EQ(same_as_torch, src.size());
  EXPECT_DOUBLE_EQ(accuracy, torch_accuracy);
  EXPECT_GE(accuracy, 0.95);
}

INSTANTIATE_TEST_SUITE_P(Bundled, DatesModel, ::testing::Values("dates-marian", "dates-lstm"));

}  // namespace
}  // namespace heed
