// The importer registry (engine/importer.h): how Model::load finds the code
// that reads someone else's checkpoint, without the engine knowing any.
#include <gtest/gtest.h>

#include <heed/model.h>

#include "engine/importer.h"
#include "tests/test_util.h"

namespace heed {
namespace {

TEST(Importers, BuiltinsAreRegisteredInOrder) {
  std::vector<std::string> types;
  for (const detail::Importer& i : detail::importers()) types.push_back(i.model_type);
  ASSERT_GE(types.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(types.begin(), types.begin() + 4),
            (std::vector<std::string>{"marian", "heed_lstm_seq2seq", "show_attend_tell", "pytorch_vqa"}));
}

TEST(Importers, HeedsOwnFormsNeedNoImporter) {
  EXPECT_EQ(detail::find_importer("model.json"), nullptr);
  EXPECT_EQ(detail::find_importer("model.safetensors"), nullptr);
}

TEST(Importers, AnUnknownDirectoryNamesItsConfigAndTheKnownTypes) {
  std::string dir = test::temp_dir();
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, dir + ": a model directory needs config.json"));
  test::write_file(dir, "config.json", R"({"model_type": "bert"})");
  EXPECT_TRUE(test::throws_error_with(
      [&] { Model::load(dir); },
      dir + "/config.json: model_type is \"bert\", expected \"marian\", \"heed_lstm_seq2seq\""));
  test::write_file(dir, "config.json", R"({"d_model": 8})");
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, "model_type is missing, expected"));
  test::write_file(dir, "config.json", R"([1, 2])");
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(dir); }, "config.json: expected a JSON object"));
}

// A new importer plugs in by registering alone: Model::load then reads its files.
TEST(Importers, ARegisteredSuffixImporterIsUsedByModelLoad) {
  static int calls = 0;
  detail::register_importer({.name = "a test format", .suffix = ".heedtest", .import = [](const std::string& path,
                                                                                          WeightStore&) {
                               ++calls;
                               return ir::parse_graph_json(
                                   R"({"format": "heed.graph", "version": 1, "graphs": {"main": {"inputs": [{"name": "x", "dtype": "f32",
                                       "shape": [2]}], "outputs": ["y"],
                                       "nodes": [{"name": "r", "op": "Relu", "inputs": ["x"], "outputs": ["y"]}]}}})",
                                   path);
                             }});
  std::string dir = test::temp_dir();
  Model m = Model::load(test::write_file(dir, "m.heedtest", "anything"));
  EXPECT_EQ(calls, 1);
  Session s(m);
  const float x[] = {-1.0f, 2.0f};
  TensorMap out = s.run({{"x", Tensor::copy_of(DType::f32, Shape({2}), x)}});
  const float* y = out.at("y").data_as<float>();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 2.0f);
}

}  // namespace
}  // namespace heed
