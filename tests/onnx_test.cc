// The ONNX importer against onnxruntime: models exported by PyTorch
// (tests/reference/gen_onnx_fixtures.py) run on heed give onnxruntime's outputs.
#include <gtest/gtest.h>

#include <heed/model.h>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {


class OnnxExport : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxExport, MatchesOnnxRuntime) {
  const std::string stem = test::fixture(std::string("onnx/") + GetParam());
  Model model = Model::load(stem + ".onnx");
  SafetensorsFile io = read_safetensors(stem + "_io.safetensors");
  TensorMap inputs;
  for (const auto& [name, t] : io.tensors)
    if (name.starts_with("input.")) inputs[name.substr(6)] = t;
  Session session(model);
  TensorMap out = session.run(inputs);
  int compared = 0;
  for (const auto& [name, want] : io.tensors) {
    if (!name.starts_with("output.")) continue;
    ASSERT_TRUE(out.count(name.substr(7))) << name;
    EXPECT_TRUE(test::all_close(out.at(name.substr(7)), want, 1e-4, 1e-5)) << name;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

INSTANTIATE_TEST_SUITE_P(Exports, OnnxExport,
                         ::testing::Values("mlp", "mlp_opset13", "mlp_external", "cnn", "attention"));

}  // namespace
}  // namespace heed
