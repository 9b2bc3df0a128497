// The ONNX importer against onnxruntime: models exported by PyTorch
// (tests/reference/gen_onnx_fixtures.py) run on heed give onnxruntime's outputs.
#include <gtest/gtest.h>

#include <heed/model.h>

#include <fmt/format.h>

#include <filesystem>

#include "engine/convert.h"
#include "engine/file_io.h"
#include "engine/safetensors.h"
#include "loaders/onnx/onnx_file.h"
#include "tests/seeded_weights.h"
#include "tests/test_util.h"

namespace heed {
namespace {


// The export's outputs on `device` equal onnxruntime's (1e-4 relative).
void expect_matches_onnxruntime(const std::string& name, Device device) {
  const std::string stem = test::fixture("onnx/" + name);
  LoadOptions options;
  options.device = device;
  Model model = Model::load(stem + ".onnx", options);
  SafetensorsFile io = read_safetensors(stem + "_io.safetensors");
  TensorMap inputs;
  for (const auto& [key, t] : io.tensors)
    if (key.starts_with("input.")) inputs[key.substr(6)] = t;
  Session session(model);
  TensorMap out = session.run(inputs);
  int compared = 0;
  for (const auto& [key, want] : io.tensors) {
    if (!key.starts_with("output.")) continue;
    ASSERT_TRUE(out.count(key.substr(7))) << key;
    EXPECT_TRUE(test::all_close(out.at(key.substr(7)), want, 1e-4, 1e-5)) << key;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

const auto kExports = ::testing::Values("mlp", "mlp_opset13", "mlp_external", "cnn", "attention", "activations", "conv1d",
                                        "bert", "vit", "gpt2", "marian_encoder", "recurrent", "recurrent_batch_first",
                                        "gru_defaults", "gru_seq_length", "gru_with_initial_bias", "gru_batchwise",
                                        "lstm_defaults", "lstm_with_initial_bias", "lstm_batchwise", "einsum",
                                        "vectors_and_norms", "reshape_allowzero");

class OnnxExport : public ::testing::TestWithParam<const char*> {};
TEST_P(OnnxExport, MatchesOnnxRuntime) { expect_matches_onnxruntime(GetParam(), Device::cpu); }
INSTANTIATE_TEST_SUITE_P(Exports, OnnxExport, kExports);

// The same exports on the GPU: every op the importer emits has a CUDA kernel.
class OnnxExportCuda : public ::testing::TestWithParam<const char*> {};
TEST_P(OnnxExportCuda, MatchesOnnxRuntime) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  expect_matches_onnxruntime(GetParam(), Device::cuda);
}
INSTANTIATE_TEST_SUITE_P(Exports, OnnxExportCuda, kExports);

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// Each refused with one line naming the file and, where there is one, the node or tensor.
TEST(OnnxImport, RefusesHostileModelsByName) {
  auto expect = [](const std::string& stem, const std::string& part) {
    std::string path = test::fixture("onnx/bad_" + stem + ".onnx");
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path); }, path + ": ")) << stem;
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path); }, part)) << stem;
  };
  expect("unknown_op", "node 'hm' (Hardmax, opset 17): heed does not import this op");
  expect("opset9", "opset 9 is not one heed imports (11 to 17");
  expect("opset18", "opset 18 is not one heed imports");
  expect("cycle", "node 'first' (Relu) reads 'z', which no earlier node, input or initializer defines");
  expect("missing_external", "initializer 'w': external data: ");
  expect("escaping_external", "must be a relative path inside the model's directory");
  expect("short_initializer", "initializer 'w': 3 values stored for 16 elements");
  expect("sequence_input", "graph input 's': not a tensor");
  expect("custom_domain", "node 'r' (Relu) is in domain 'com.example'");
  expect("fold_missing_input", "takes at least 2");  // found by fuzz_onnx: a binary op with one input
  expect("pool_short_strides", "spatial dims");       // found by fuzz_onnx: one stride for a 2-D pool
}

// A shape read from a graph input's values (not computed from shapes): the
// model loads, and a run says which node's shape heed cannot plan.
TEST(OnnxImport, AShapeThatDependsOnDataIsRefusedByNodeWhenPlanned) {
  std::string path = test::fixture("onnx/bad_runtime_shape.onnx");
  Session session(Model::load(path));
  Tensor x = Tensor::empty(DType::f32, Shape{2, 4}), shape = Tensor::empty(DType::i64, Shape{2});
  std::fill_n(x.data_as<float>(), 8, 1.0f);
  shape.data_as<int64_t>()[0] = 4, shape.data_as<int64_t>()[1] = 2;
  EXPECT_TRUE(test::throws_error_with([&] { session.run({{"x", x}, {"shape", shape}}); },
                                      "node 'reshape' (Reshape): the shape of output 'y' is [?, ?] with every input "
                                      "shape known: it depends on the values of a tensor"));
}

TEST(OnnxImport, RefusesFilesThatAreNotOnnx) {
  std::string dir = test::temp_dir();
  std::string good = read_text_file(test::fixture("onnx/cnn.onnx"));
  for (size_t cut : {size_t(1), size_t(7), good.size() / 3, good.size() / 2, good.size() - 1}) {
    std::string path = test::write_file(dir, fmt::format("cut{}.onnx", cut), good.substr(0, cut));
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path); }, path + ": ")) << cut;
  }
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(test::write_file(dir, "empty.onnx", "")); },
                                      "empty.onnx: not an ONNX model (no graph)"));
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(test::write_file(dir, "text.onnx", "hello, world\n")); },
                                      "text.onnx: not a valid ONNX model"));
  // A length prefix far past the end of the file.
  EXPECT_TRUE(test::throws_error_with(
      [&] { Model::load(test::write_file(dir, "long.onnx", std::string("\x3a\xff\xff\xff\xff\x0f", 6))); },
      "long.onnx: not a valid ONNX model: a field of"));
}

// What heed convert writes loads without the importer and gives the same outputs.
TEST(OnnxImport, AConvertedModelRunsTheSame) {
  std::string dir = test::temp_dir();
  std::string out = dir + "/cnn.safetensors";
  EXPECT_EQ(convert_model(test::fixture("onnx/cnn.onnx"), out).importer, "an ONNX model");
  SafetensorsFile io = read_safetensors(test::fixture("onnx/cnn_io.safetensors"));
  Session onnx(Model::load(test::fixture("onnx/cnn.onnx"))), converted(Model::load(out));
  TensorMap in{{"x", *io.find("input.x")}};
  EXPECT_TRUE(test::all_close(converted.run(in).at("y"), onnx.run(in).at("y"), 0, 0));
  EXPECT_EQ(Model::load(out).metadata().at("architecture"), "onnx");
}

// A converted model keeps the shape arithmetic of dynamic axes (Shape, Range,
// computed Reshape targets) and the fused attention: the same outputs, bit for bit.
TEST(OnnxImport, AConvertedDynamicModelRunsTheSame) {
  std::string out = test::temp_dir() + "/gpt2_past.safetensors";
  convert_model(test::fixture("onnx/gpt2_past.onnx"), out);
  Session onnx(Model::load(test::fixture("onnx/gpt2_past.onnx"))), converted(Model::load(out));
  for (int k = 1; k <= 3; ++k) {
    SafetensorsFile io = read_safetensors(test::fixture(fmt::format("onnx/gpt2_past_io{}.safetensors", k)));
    TensorMap in;
    for (const auto& [name, t] : io.tensors)
      if (name.starts_with("input.")) in[name.substr(6)] = t;
    TensorMap a = onnx.run(in), b = converted.run(in);
    for (const auto& [name, t] : a) EXPECT_TRUE(test::all_close(b.at(name), t, 0, 0)) << name << " case " << k;
  }
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// torchvision's ResNet-50 as the exporter writes it (BatchNorm folded into the
// convs), its weights seeded and kept in external data this test writes again.
TEST(OnnxImport, ResNet50MatchesOnnxRuntime) {
  const std::string dir = test::temp_dir(), model = dir + "/resnet50.onnx";
  std::filesystem::copy_file(test::fixture("onnx/resnet50.onnx"), model);
  test::seeded_raw_file(test::fixture("onnx/resnet50_onnx.manifest.json"), dir + "/resnet50_onnx.data");
  SafetensorsFile io = read_safetensors(test::fixture("onnx/resnet50_io.safetensors"));
  Session session(Model::load(model), {"", 2});
  Tensor logits = session.run({{"image", *io.find("input.image")}}).at("logits");
  EXPECT_TRUE(test::all_close(logits, *io.find("output.logits"), 1e-4, 1e-5));
}

// Found by fuzz_onnx: a TensorProto declaring 10^10 floats with one stored must
// fail before allocating 40 GB.
TEST(OnnxImport, ATensorsDataSizeIsCheckedBeforeAllocating) {
  const std::string bytes("\x08\xa0\x8d\x06\x08\xa0\x8d\x06\x10\x01\x22\x04\x00\x00\x80\x3f", 16);
  onnx_import::TensorProto t = onnx_import::parse_tensor(bytes, "t.pb");
  EXPECT_EQ(t.dims, (std::vector<int64_t>{100000, 100000}));
  EXPECT_TRUE(test::throws_error_with([&] { onnx_import::tensor_from_proto(t, "", "t.pb"); },
                                      "t.pb: 1 values stored for 10000000000 elements"));
  t.float_data.clear();
  t.has_raw_data = true;
  t.raw_data = "abcd";
  EXPECT_TRUE(test::throws_error_with([&] { onnx_import::tensor_from_proto(t, "", "t.pb"); },
                                      "t.pb: 4 bytes of data for [100000, 100000] f32, expected 40000000000"));
}

}  // namespace
}  // namespace heed
