// The bundled captioning and VQA demo models (examples/shapes-caption,
// examples/shapes-vqa, trained by scripts/train_shapes.py): through heed's
// Captioner and QuestionAnswerer, on the held-out pictures in
// examples/shapes-test, every caption and answer equals PyTorch's, so the
// accuracies in metrics.json are heed's too.
#include <heed/caption.h>
#include <heed/vqa.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/quantize.h"
#include "tests/test_util.h"

namespace heed {
namespace {

const std::string kExamples = HEED_EXAMPLES;

// Tab-separated rows after the header.
std::vector<std::vector<std::string>> rows_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::istringstream in(line);
    for (std::string c; std::getline(in, c, '\t');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

double metric(const std::string& dir, const char* key) {
  std::ifstream f(dir + "/metrics.json");
  return nlohmann::json::parse(f)[key].get<double>();
}

TEST(ShapesDemo, CaptionsEqualPyTorchOnTheHeldOutPictures) {
  auto rows = rows_of(kExamples + "/shapes-test/captions.tsv");
  ASSERT_EQ(rows.size(), 200u);
  std::vector<std::string> paths;
  for (const auto& r : rows) paths.push_back(kExamples + "/shapes-test/" + r[0]);
  Captioner captioner(kExamples + "/shapes-caption", {2});
  GenerationOptions o;
  o.max_new_tokens = captioner.max_caption_length();
  std::vector<Caption> out = captioner.caption(paths, o);
  size_t correct = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(out[i].text, rows[i][2]) << rows[i][0];
    correct += out[i].text == rows[i][1];
  }
  EXPECT_DOUBLE_EQ(double(correct) / double(rows.size()), metric(kExamples + "/shapes-caption", "caption_exact_match_greedy_pytorch"));
  o.beam_size = 3;  // beam search finds the same captions on this easy task
  std::vector<Caption> beams = captioner.caption({paths.begin(), paths.begin() + 20}, o);
  for (size_t i = 0; i < beams.size(); ++i) EXPECT_EQ(beams[i].text, rows[i][2]) << rows[i][0];
}

TEST(ShapesDemo, AnswersEqualPyTorchOnTheHeldOutQuestions) {
  auto rows = rows_of(kExamples + "/shapes-test/questions.tsv");
  ASSERT_EQ(rows.size(), 800u);
  std::vector<Question> qs;
  for (const auto& r : rows) qs.push_back({kExamples + "/shapes-test/" + r[0], r[1]});
  QuestionAnswerer qa(kExamples + "/shapes-vqa", {2});
  std::vector<VqaResult> out = qa.answer(qs, 2);
  size_t correct = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(out[i].answers[0].text, rows[i][3]) << rows[i][0] << ": " << rows[i][1];
    EXPECT_TRUE(out[i].unknown_words.empty());
    correct += out[i].answers[0].text == rows[i][2];
  }
  EXPECT_DOUBLE_EQ(double(correct) / double(rows.size()), metric(kExamples + "/shapes-vqa", "vqa_accuracy_pytorch"));
}

// In bf16 and int8 (LoadOptions::precision: the captioner's and VQA's Linear and
// attention projections) both demos keep PyTorch's fp32 scores, loaded in the
// precision or quantized by `heed quantize` into directories of their own.
class ShapesDemoPrecision : public ::testing::TestWithParam<std::tuple<Precision, bool>> {};

TEST_P(ShapesDemoPrecision, CaptionAndVqaKeepTheirScores) {
  const auto [precision, stored] = GetParam();
  if (std::string why; !test::precision_runs_here(precision, &why)) GTEST_SKIP() << why;
  // The demo's directory, or its quantized copy (run in the precision it stores).
  auto model = [&, stored = stored, precision = precision](const std::string& name) {
    if (!stored) return kExamples + "/" + name;
    const std::string out = test::temp_dir() + "/" + name;
    quantize_model(kExamples + "/" + name, out, precision);
    return out;
  };
  const std::optional<Precision> load_in = stored ? std::nullopt : std::optional(precision);
  auto captions = rows_of(kExamples + "/shapes-test/captions.tsv");
  std::vector<std::string> paths;
  for (const auto& r : captions) paths.push_back(kExamples + "/shapes-test/" + r[0]);
  CaptionerOptions co{2};
  co.precision = load_in;
  Captioner captioner(model("shapes-caption"), co);
  GenerationOptions o;
  o.max_new_tokens = captioner.max_caption_length();
  std::vector<Caption> out = captioner.caption(paths, o);
  size_t correct = 0;
  for (size_t i = 0; i < captions.size(); ++i) correct += out[i].text == captions[i][1];
  EXPECT_GE(double(correct) / double(captions.size()), metric(kExamples + "/shapes-caption", "caption_exact_match_greedy_pytorch"));

  auto questions = rows_of(kExamples + "/shapes-test/questions.tsv");
  std::vector<Question> qs;
  for (const auto& r : questions) qs.push_back({kExamples + "/shapes-test/" + r[0], r[1]});
  AnswererOptions ao{2};
  ao.precision = load_in;
  QuestionAnswerer qa(model("shapes-vqa"), ao);
  std::vector<VqaResult> answers = qa.answer(qs, 1);
  correct = 0;
  for (size_t i = 0; i < questions.size(); ++i) correct += answers[i].answers[0].text == questions[i][2];
  EXPECT_GE(double(correct) / double(questions.size()), metric(kExamples + "/shapes-vqa", "vqa_accuracy_pytorch"));
}

INSTANTIATE_TEST_SUITE_P(Bundled, ShapesDemoPrecision,
                         ::testing::Combine(::testing::Values(Precision::bf16, Precision::int8), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Precision, bool>>& info) {
                           return std::string(precision_name(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_quantized_file" : "");
                         });

}  // namespace
}  // namespace heed
