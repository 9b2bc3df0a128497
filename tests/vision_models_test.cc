// Show, Attend and Tell and pytorch-vqa models (random weights in the public
// layouts, tests/reference/gen_vision_fixtures.py) through heed's importers,
// against the PyTorch modules: encoder features and initial state, every
// decoder step's logits and attention, greedy and beam captions, VQA features,
// logits and glimpse maps; and bad model directories refused clearly.
#include <heed/caption.h>
#include <heed/error.h>
#include <heed/generate.h>
#include <heed/vqa.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "loaders/vqa_question.h"
#include "tests/seeded_weights.h"
#include "tests/test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;

// The fixture's model directory with its seeded weights written as model.safetensors.
std::string model_dir(const std::string& name, const std::function<void(nlohmann::json&)>& edit_manifest = {}) {
  const std::string dir = test::temp_dir() + "/" + name;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(test::fixture(name)))
    if (e.path().filename() != "manifest.json") fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  std::string manifest = test::fixture(name + "/manifest.json");
  if (edit_manifest) {
    std::ifstream in(manifest);
    nlohmann::json m = nlohmann::json::parse(in);
    edit_manifest(m);
    manifest = test::write_file(dir, "edited_manifest.json", m.dump());
  }
  fs::rename(test::seeded_weights_file(manifest, dir), dir + "/model.safetensors");
  return dir;
}

std::vector<int64_t> ids_of(const Tensor& t) { return {t.data_as<int64_t>(), t.data_as<int64_t>() + t.shape().numel()}; }

// Row t of a [B, T, X] reference as a [B, X] tensor.
Tensor step_of(const Tensor& all, int64_t t) {
  const int64_t B = all.shape()[0], T = all.shape()[1], X = all.shape()[2];
  Tensor out = Tensor::empty(DType::f32, {B, X});
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(out.data_as<float>() + b * X, all.data_as<float>() + (b * T + t) * X, size_t(X) * sizeof(float));
  return out;
}

class Captioning : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    io = read_safetensors(test::fixture(GetParam() + "_io.safetensors"));
    dir = model_dir(GetParam());
    model = Model::load(dir);
  }
  SafetensorsFile io;
  std::string dir;
  Model model;
};

TEST_P(Captioning, EncoderMatchesPyTorch) {
  Session enc(model, {"encoder", 2});
  TensorMap out = enc.run({{"image", *io.find("images")}});
  for (const char* name : {"features", "att1", "h", "c"})
    EXPECT_TRUE(test::all_close(out.at(name), *io.find(name), 1e-4, 1e-4)) << name;
}

TEST_P(Captioning, EveryDecoderStepMatchesPyTorch) {
  Session step(model, {"decoder_step", 2});
  TensorMap in;
  for (const char* name : {"features", "att1", "h", "c"}) in[name] = *io.find(name);
  const Tensor& words = *io.find("teacher_words");
  const int64_t B = words.shape()[0], T = words.shape()[1];
  for (int64_t t = 0; t < T; ++t) {
    Tensor ids = Tensor::empty(DType::i64, {B, 1});
    for (int64_t b = 0; b < B; ++b) ids.data_as<int64_t>()[b] = words.data_as<int64_t>()[b * T + t];
    in["input_ids"] = ids;
    TensorMap out = step.run(in);
    EXPECT_TRUE(test::all_close(out.at("logits"), step_of(*io.find("teacher_logits"), t), 1e-4, 1e-4)) << "step " << t;
    EXPECT_TRUE(test::all_close(out.at("attention"), step_of(*io.find("teacher_alphas"), t), 1e-4, 1e-5)) << "step " << t;
    in["h"] = out.at("h_out");
    in["c"] = out.at("c_out");
  }
}

TEST_P(Captioning, GreedyAndBeamCaptionsMatchPyTorch) {
  Generator gen(model, 2);
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.return_attention = true;
  auto greedy = gen.generate_n_best({{"image", *io.find("images")}}, o);
  ASSERT_EQ(greedy.size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(greedy[b][0].tokens, ids_of(*io.find("greedy." + std::to_string(b) + ".tokens"))) << b;
    EXPECT_NEAR(greedy[b][0].score, io.find("greedy." + std::to_string(b) + ".score")->data_as<float>()[0], 1e-3);
    const int64_t grid = std::stoll(model.metadata().at("encoded_image_size"));
    EXPECT_TRUE(test::attention_rows_ok(greedy[b][0].attention, size_t(grid * grid)));
  }
  o.beam_size = 3;
  o.num_hypotheses = 3;
  auto beams = gen.generate_n_best({{"image", *io.find("images")}}, o);
  for (size_t b = 0; b < 2; ++b)
    for (size_t k = 0; k < 3; ++k) {
      const std::string key = "beam3." + std::to_string(b) + "." + std::to_string(k);
      if (!io.find(key + ".tokens")) continue;
      ASSERT_GT(beams[b].size(), k);
      EXPECT_EQ(beams[b][k].tokens, ids_of(*io.find(key + ".tokens"))) << key;
      EXPECT_NEAR(beams[b][k].score, io.find(key + ".score")->data_as<float>()[0], 1e-4) << key;
    }
}

TEST_P(Captioning, AnImageAloneGetsWhatItGetsInABatch) {
  Generator gen(model, 2);
  GenerationOptions o;
  o.max_new_tokens = 12;
  const Tensor& images = *io.find("images");
  const int64_t per = images.nbytes() / 2 / sizeof(float);
  Tensor second = Tensor::copy_of(DType::f32, {1, images.shape()[1], images.shape()[2], images.shape()[3]},
                                  images.data_as<float>() + per);
  auto both = gen.generate_n_best({{"image", images}}, o);
  auto alone = gen.generate_n_best({{"image", second}}, o);
  EXPECT_EQ(alone[0][0].tokens, both[1][0].tokens);
  EXPECT_NEAR(alone[0][0].score, both[1][0].score, 1e-4);
}

// Any encoder's features can be captioned: the encoder graph's own features
// ([N, grid*grid, C], the PyTorch-checked path above) given back as
// [N, grid, grid, C] caption exactly as the pictures do, and a checkpoint with
// no ResNet trunk at all (the decoder alone) captions them the same.
TEST_P(Captioning, FeaturesCaptionAsTheirPicturesDo) {
  const Tensor& images = *io.find("images");
  const int64_t grid = std::stoll(model.metadata().at("encoded_image_size"));
  Tensor features = Session(model, {"encoder", 2}).run({{"image", images}}).at("features");
  const int64_t channels = features.shape()[2];
  Tensor grid_features = Tensor::copy_of(DType::f32, {features.shape()[0], grid, grid, channels}, features.data());
  GenerationOptions o;
  o.max_new_tokens = 12;
  Generator gen(model, 2);
  auto from_images = gen.generate_n_best({{"image", images}}, o);
  auto from_features = gen.generate_n_best({{"encoder_out", grid_features}}, o);
  ASSERT_EQ(from_features.size(), from_images.size());
  for (size_t b = 0; b < from_images.size(); ++b) EXPECT_EQ(from_features[b][0].tokens, from_images[b][0].tokens) << b;

  SafetensorsFile all = read_safetensors(dir + "/model.safetensors");
  NamedTensors decoder_only;
  for (const auto& [name, t] : all.tensors)
    if (name.rfind("encoder.", 0) != 0) decoder_only.emplace_back(name, t);
  const std::string bare = test::temp_dir();
  write_safetensors(bare + "/model.safetensors", decoder_only);
  fs::copy_file(dir + "/word_map.json", bare + "/word_map.json");
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  config.erase("image");
  config.erase("resnet_depth");
  config["encoder_dim"] = channels;
  test::write_file(bare, "config.json", config.dump());
  Captioner captioner(bare);
  std::vector<Caption> captions = captioner.caption_features(grid_features, o);
  Captioner with_trunk(dir);
  for (size_t b = 0; b < captions.size(); ++b) EXPECT_EQ(captions[b].text, with_trunk.caption_features(grid_features, o)[b].text);
  EXPECT_TRUE(test::throws_error_with([&] { captioner.caption({test::fixture("images/rgb.png")}, o); },
                                      "this captioning model has no image encoder"));
  Tensor wrong = Tensor::zeros(DType::f32, {1, grid, channels});
  EXPECT_TRUE(test::throws_error_with([&] { captioner.caption_features(wrong, o); }, "features must be f32 [N, "));
}

INSTANTIATE_TEST_SUITE_P(Layouts, Captioning, ::testing::Values("sat_r18", "sat_r50_tv"));

// The fixture with one edit to its config or word map; the load must fail naming `part`.
void expect_caption_load_error(const std::function<void(const std::string&)>& edit, const std::string& part) {
  const std::string dir = model_dir("sat_r18");
  edit(dir);
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, part));
}

void edit_json(const std::string& path, const std::function<void(nlohmann::json&)>& f) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  in.close();
  f(j);
  std::ofstream(path) << j.dump();
}

TEST(CaptioningModel, BadDirectoriesAreRefusedClearly) {
  expect_caption_load_error([](const std::string& d) { fs::remove(d + "/word_map.json"); }, "word_map.json: cannot open");
  expect_caption_load_error([](const std::string& d) { edit_json(d + "/word_map.json", [](auto& j) { j.erase("<end>"); }); },
                            "has no \"<end>\"");
  expect_caption_load_error([](const std::string& d) { edit_json(d + "/config.json", [](auto& j) { j["resnet_depth"] = 20; }); },
                            "ResNet-20 is not supported");
  expect_caption_load_error([](const std::string& d) { edit_json(d + "/config.json", [](auto& j) { j["resnet_stages"] = 5; }); },
                            "resnet_stages must be 1 to 4");
  expect_caption_load_error([](const std::string& d) { edit_json(d + "/config.json", [](auto& j) { j["vocab_size"] = 5; }); },
                            "vocab_size is 5");
  expect_caption_load_error([](const std::string& d) { edit_json(d + "/config.json", [](auto& j) { j.erase("image"); }); },
                            "'image'");
  const std::string dir = model_dir("sat_r18", [](nlohmann::json& m) {
    m.erase(std::remove_if(m.begin(), m.end(), [](const auto& e) { return e["name"] == "decoder.f_beta.weight"; }), m.end());
  });
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, "decoder.f_beta.weight"));
}

class Vqa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    io = read_safetensors(test::fixture(GetParam() + "_io.safetensors"));
    dir = model_dir(GetParam());
    std::ifstream q(test::fixture(GetParam() + "/questions.json"));
    questions = nlohmann::json::parse(q).get<std::vector<std::string>>();
  }
  SafetensorsFile io;
  std::string dir;
  std::vector<std::string> questions;
};

TEST_P(Vqa, GraphsMatchPyTorch) {
  Model model = Model::load(dir);
  if (io.find("images")) {
    Session trunk(model, {"image_features", 2});
    EXPECT_TRUE(test::all_close(trunk.run({{"image", *io.find("images")}}).at("features"), *io.find("features"), 1e-4, 1e-4));
  }
  Session answer(model, {"answer", 2});
  TensorMap out = answer.run({{"features", *io.find("features")}, {"question", *io.find("question")},
                              {"question_lengths", *io.find("question_lengths")}});
  EXPECT_TRUE(test::all_close(out.at("logits"), *io.find("logits"), 1e-4, 1e-4));
  EXPECT_TRUE(test::all_close(out.at("attention"), *io.find("attention"), 1e-4, 1e-6));
}

TEST_P(Vqa, AnswererTokenizesAsPytorchVqaAndRanksAnswers) {
  QuestionAnswerer qa(dir, {2});
  std::vector<std::string> tokens, unknown;
  EXPECT_EQ(qa.encode(questions[2], &tokens, &unknown).size(), 4u);  // "what is the zebra": zebra unknown -> 0
  EXPECT_EQ(unknown, std::vector<std::string>{"zebra"});
  std::vector<VqaResult> res = qa.answer_features(*io.find("features"), questions, 3);
  const Tensor& logits = *io.find("logits");
  const int64_t A = logits.shape()[1];
  for (size_t i = 0; i < questions.size(); ++i) {
    const float* l = logits.data_as<float>() + int64_t(i) * A;
    int64_t best = std::max_element(l, l + A) - l;
    double sum = 0;
    for (int64_t a = 0; a < A; ++a) sum += std::exp(double(l[a] - l[best]));
    ASSERT_EQ(res[i].answers.size(), 3u);
    EXPECT_EQ(res[i].answers[0].text, "a" + std::to_string(best));
    EXPECT_NEAR(res[i].answers[0].probability, 1.0 / sum, 1e-5);
    EXPECT_GE(res[i].answers[0].probability, res[i].answers[1].probability);
    EXPECT_EQ(int64_t(res[i].attention.size()), io.find("attention")->shape()[1]);
    EXPECT_TRUE(test::attention_rows_ok(res[i].attention, 25 * (io.find("images") ? 0 : 1) + 9 * (io.find("images") ? 1 : 0)));
  }
  // In batches of 2 (rows viewed in place): the same answers.
  QuestionAnswerer by_two(dir, {2, false, 2});
  std::vector<VqaResult> again = by_two.answer_features(*io.find("features"), questions, 3);
  for (size_t i = 0; i < questions.size(); ++i) {
    EXPECT_EQ(again[i].answers[0].text, res[i].answers[0].text);
    EXPECT_NEAR(again[i].answers[0].probability, res[i].answers[0].probability, 1e-6);
  }
  EXPECT_TRUE(test::throws_error_with([&] { qa.answer_features(*io.find("features"), {"?", "what", "is"}, 3); }, "question 1"));
  EXPECT_TRUE(test::throws_error_with([&] { qa.answer_features(*io.find("features"), {"what"}, 3); }, "must be [questions (1)"));
}

INSTANTIATE_TEST_SUITE_P(Layouts, Vqa, ::testing::Values("vqa_r18", "vqa_features"));

TEST(VqaQuestions, TokensEqualPytorchVqasOnAwkwardQuestions) {
  std::ifstream f(test::fixture("vqa_questions.json"));
  int checked = 0;
  for (const auto& e : nlohmann::json::parse(f)) {
    EXPECT_EQ(vqa_question_tokens(e["question"]), e["tokens"].get<std::vector<std::string>>()) << e["question"];
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

TEST(VqaModel, FeaturesOnlyModelsRefuseImagesAndBadVocabulariesAreRefused) {
  QuestionAnswerer qa(model_dir("vqa_features"), {2});
  EXPECT_TRUE(test::throws_error_with([&] { qa.answer({{test::fixture("images/rgb.png"), "what color"}}); }, "no image trunk"));
  const std::string dir = model_dir("vqa_r18");
  edit_json(dir + "/vocab.json", [](auto& j) { j.erase("answer"); });
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, "has no \"answer\" vocabulary"));
  const std::string dir2 = model_dir("vqa_r18");
  edit_json(dir2 + "/config.json", [](auto& j) { j["vision_features"] = 256; });
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir2); }, "vision_features is 256"));
}

}  // namespace
}  // namespace heed
