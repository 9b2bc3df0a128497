// Quantized files (`heed quantize`, engine/stored_weight.h): models written by
// tests/reference/gen_quantized_fixtures.py without heed, run against what
// PyTorch computes for their stored values; the scheme against PyTorch's
// rounding; quantize's round trip; and files that lie about their weights.
#include <heed/error.h>
#include <heed/model.h>

#include <filesystem>
#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/quantize.h"
#include "engine/safetensors.h"
#include "engine/stored_weight.h"
#include "tests/seeded_weights.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using json = nlohmann::json;
const std::vector<std::string> kOutputs = {"lin", "right", "left", "conv", "h1", "c1", "rows"};

const SafetensorsFile& io() {
  static const SafetensorsFile f = read_safetensors(test::fixture("quantized/io.safetensors"));
  return f;
}

TensorMap inputs() {
  TensorMap in;
  for (const char* name : {"x", "xl", "img", "h", "c", "ids"}) in[name] = *io().find(name);
  return in;
}

// Runs `file` in `precision` (unset: as stored) and compares with io's `<output>.<suffix>`.
void expect_outputs(const std::string& file, std::optional<Precision> precision, const std::string& suffix, double rtol,
                    double atol) {
  LoadOptions options;
  options.precision = precision;
  Model model = Model::load(test::fixture("quantized/" + file), options);
  Session session(model, {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {
    TensorMap out = session.run(inputs());
    for (const std::string& name : kOutputs) {
      // Without AVX-512 VNNI an int8 convolution's weight takes 7 bits, from the values the stored one stands for.
      const bool seven_bits = name == "conv" && suffix == "int8" && test::int8_convolutions_in_7_bits();
      const std::string want = seven_bits ? "int8_7bit" : suffix;
      EXPECT_TRUE(test::all_close(out.at(name), *io().find(name + "." + want), rtol, atol))
          << file << " output " << name << " against " << want;
    }
  }
}

bool runs_here(Precision p) {
  std::string why;
  if (test::precision_runs_here(p, &why)) return true;
  std::cout << "[  SKIPPED ] " << why << "\n";
  return false;
}

// The stored int8 values and scales as they are (no channel reaches 127, so
// quantizing their values again would give others), in heed's int8 scheme.
TEST(QuantizedModel, Int8FileRunsItsStoredValues) {
  if (!runs_here(Precision::int8)) GTEST_SKIP();
  expect_outputs("int8.safetensors", std::nullopt, "int8", 1e-5, 1e-5);
  expect_outputs("int8.safetensors", Precision::int8, "int8", 1e-5, 1e-5);
}

TEST(QuantizedModel, Bf16FileRunsItsStoredValues) {
  if (!runs_here(Precision::bf16)) GTEST_SKIP();
  expect_outputs("bf16.safetensors", std::nullopt, "bf16", 1e-4, 1e-5);
}

// In another precision the weights are the values they stand for.
TEST(QuantizedModel, OtherPrecisionsReadTheValuesWeightsStandFor) {
  expect_outputs("int8.safetensors", Precision::f32, "f32_from_int8", 1e-5, 1e-5);
  expect_outputs("bf16.safetensors", Precision::f32, "f32_from_bf16", 1e-5, 1e-5);
}

TEST(QuantizedModel, InspectSaysHowWeightsAreStored) {
  if (!runs_here(Precision::int8)) GTEST_SKIP();
  const std::string d = Model::load(test::fixture("quantized/int8.safetensors")).describe();
  EXPECT_NE(d.find("weights: 6 of 10 stored in int8 (heed quantize)"), std::string::npos) << d;
  EXPECT_NE(d.find("5 in int8 (marked)"), std::string::npos) << d;
}

// Storing f32 weights gives PyTorch's rounding of the scheme (ties to even, a
// zero channel, channels along axis 1), and bf16 rounds to nearest even.
TEST(QuantizedModel, StoringFollowsTheScheme) {
  const auto check = [](const std::string& w, int axis, const std::string& q, const std::string& s) {
    StoredWeight stored = store_weight(*io().find("scheme." + w), Precision::int8, axis, w);
    Tensor qf = Tensor::empty(DType::f32, stored.values.shape());
    for (int64_t i = 0; i < qf.numel(); ++i) qf.data_as<float>()[i] = stored.values.data_as<int8_t>()[i];
    EXPECT_TRUE(test::all_close(qf, *io().find("scheme." + q), 0, 0)) << w;
    EXPECT_TRUE(test::all_close(stored.scales, *io().find("scheme." + s), 0, 0)) << w;
  };
  check("w0", 0, "q0", "s0");
  check("w1", 1, "q1", "s1");
  StoredWeight b = store_weight(*io().find("scheme.w1"), Precision::bf16, 0, "w1");
  EXPECT_TRUE(test::all_close(b.values, *io().find("scheme.bf16"), 0, 0));
}

TEST(QuantizedModel, StoringRefusesWhatInt8CannotHold) {
  Tensor w = Tensor::zeros(DType::f32, Shape({3, 4}));
  w.data_as<float>()[5] = INFINITY;
  EXPECT_TRUE(test::throws_error_with([&] { store_weight(w, Precision::int8, 0, "enc.fc"); },
                                      "weight 'enc.fc': channel 1 (axis 0) holds inf or NaN"));
}

// A model quantized by `heed quantize` runs as the fp32 model loaded in that
// precision, bit for bit: ResNet-18 (BatchNorm folded before its convolutions
// are stored, the classifier a Linear), whose file is a quarter the size in int8.
void expect_round_trip(Precision precision, double largest_ratio) {
  if (!runs_here(precision)) GTEST_SKIP();
  if (precision == Precision::int8 && test::int8_convolutions_in_7_bits())  // made from other values
    GTEST_SKIP() << "without AVX-512 VNNI int8 convolutions take 7-bit weights: the file's from its 8-bit ones, "
                    "the fp32 model's from its own";
  const std::string dir = test::temp_dir();
  const std::string weights = test::seeded_weights_file(test::fixture("resnet18.manifest.json"), dir);
  const std::string out = dir + "/resnet18-" + std::string(precision_name(precision)) + ".safetensors";
  QuantizeSummary s = quantize_model(test::fixture("resnet18.json"), out, precision, weights);
  EXPECT_EQ(s.stored, 21u);  // 20 convolutions and the classifier
  EXPECT_LE(double(std::filesystem::file_size(out)), largest_ratio * double(s.fp32_bytes));
  SafetensorsFile io = read_safetensors(test::fixture("resnet18_io.safetensors"));
  LoadOptions lo{weights};
  lo.precision = precision;
  Model original = Model::load(test::fixture("resnet18.json"), lo);
  Model quantized = Model::load(out);
  EXPECT_NE(quantized.describe().find("21 of"), std::string::npos);
  const TensorMap in = {{"image", *io.find("image")}};
  Tensor want = Session(original, {"", 2}).run(in).at("logits");
  EXPECT_TRUE(test::all_close(Session(quantized, {"", 2}).run(in).at("logits"), want, 0, 0));
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(out, dir + "/again.safetensors", precision); },
                                      "already stored in " + std::string(precision_name(precision))));
}

TEST(QuantizedModel, Int8RoundTripEqualsLoadTimeInt8) { expect_round_trip(Precision::int8, 0.27); }

// An ONNX export (a BERT encoder, its attention fused at import) quantized: the
// same outputs, bit for bit, as the ONNX file loaded in int8.
TEST(QuantizedModel, OnnxExportRoundTrip) {
  const std::string out = test::temp_dir() + "/bert-int8.safetensors";
  QuantizeSummary s = quantize_model(test::fixture("onnx/bert.onnx"), out, Precision::int8);
  EXPECT_EQ(s.stored, 12u);  // two layers' q, k, v, output, and both FFN projections
  LoadOptions lo;
  lo.precision = Precision::int8;
  const SafetensorsFile in = read_safetensors(test::fixture("onnx/bert_inputs.safetensors"));
  const TensorMap inputs(in.tensors.begin(), in.tensors.end());
  Tensor want = Session(Model::load(test::fixture("onnx/bert.onnx"), lo), {"", 2}).run(inputs).at("y");
  EXPECT_TRUE(test::all_close(Session(Model::load(out), {"", 2}).run(inputs).at("y"), want, 0, 0));
}
TEST(QuantizedModel, Bf16RoundTripEqualsLoadTimeBf16) { expect_round_trip(Precision::bf16, 0.51); }

// Files that lie about their stored weights: one line naming the file and tensor.
class HostileQuantizedFile : public ::testing::Test {
 protected:
  // int8.safetensors with `edit` applied to its tensors and metadata, loaded.
  void expect_refused(const std::function<void(std::map<std::string, Tensor>&, json&)>& edit, const std::string& part) {
    SafetensorsFile f = read_safetensors(test::fixture("quantized/int8.safetensors"));
    std::map<std::string, Tensor> tensors(f.tensors.begin(), f.tensors.end());
    json meta = json::parse(f.metadata.at(kQuantizedKey));
    edit(tensors, meta);
    std::map<std::string, std::string> metadata = f.metadata;
    metadata[kQuantizedKey] = meta.is_string() ? meta.get<std::string>() : meta.dump();
    const std::string path = test::temp_dir() + "/hostile.safetensors";
    write_safetensors(path, NamedTensors(tensors.begin(), tensors.end()), metadata);
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path); }, part));
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path); }, path + ": "));  // the file first
  }
  static Tensor floats(std::vector<float> v) {
    Tensor t = Tensor::empty(DType::f32, Shape({int64_t(v.size())}));
    std::copy(v.begin(), v.end(), t.data_as<float>());
    return t;
  }
};

TEST_F(HostileQuantizedFile, MissingScales) {
  expect_refused([](auto& t, json&) { t.erase("W1:scales"); }, "tensor 'W1': its scales 'W1:scales' are not in the file");
}
TEST_F(HostileQuantizedFile, ScalesOfTheWrongShapeOrDtype) {
  expect_refused([](auto& t, json&) { t["W1:scales"] = floats(std::vector<float>(15, 0.01f)); },
                 "tensor 'W1': its scales 'W1:scales' are f32[15], expected f32[16] (one per channel along axis 0)");
  expect_refused([](auto& t, json&) { t["W2:scales"] = floats(std::vector<float>(16, 0.01f)); },
                 "its scales 'W2:scales' are f32[16], expected f32[12] (one per channel along axis 1)");
  expect_refused([](auto& t, json&) { t["W1:scales"] = Tensor::zeros(DType::i32, Shape({16})); },
                 "its scales 'W1:scales' are i32[16], expected f32[16]");
}
TEST_F(HostileQuantizedFile, ScalesThatAreNotFiniteOrNegative) {
  auto with = [](float v) {
    return [v](std::map<std::string, Tensor>& t, json&) {
      std::vector<float> s(16, 0.01f);
      s[3] = v;
      t["W1:scales"] = floats(s);
    };
  };
  expect_refused(with(NAN), "tensor 'W1': scale 3 of 'W1:scales' is nan (scales are finite and >= 0)");
  expect_refused(with(INFINITY), "scale 3 of 'W1:scales' is inf");
  expect_refused(with(-0.5f), "scale 3 of 'W1:scales' is -0.5");
}
TEST_F(HostileQuantizedFile, ValuesOfTheWrongDtype) {
  expect_refused([](auto& t, json&) { t["W1"] = Tensor::zeros(DType::f32, Shape({16, 24})); },
                 "tensor 'W1': stored int8 must be i8, not f32");
}
TEST_F(HostileQuantizedFile, AnI8TensorNotListed) {
  expect_refused([](auto&, json& m) { m["weights"].erase("W1"); }, "tensor 'W1' is i8, which only a stored int8 weight");
}
TEST_F(HostileQuantizedFile, MetadataThatIsNotWhatItShouldBe) {
  expect_refused([](auto&, json& m) { m = "{not json"; }, "__metadata__[\"heed.quantized\"]: not JSON");
  expect_refused([](auto&, json& m) { m["precision"] = "int4"; }, "precision 'int4' (expected int8 or bf16)");
  expect_refused([](auto&, json& m) { m.erase("weights"); }, "expected {\"precision\"");
  expect_refused([](auto&, json& m) { m["weights"]["W9"] = json::object(); }, "no tensor 'W9' in the file");
  expect_refused([](auto&, json& m) { m["weights"]["W1"]["axis"] = 2; },
                 "tensor 'W1': int8 channels along axis 2 of a rank-2 weight");
  expect_refused([](auto&, json& m) { m["weights"]["Wc"]["axis"] = 1; }, "axis 1 of a rank-4 weight");
  expect_refused([](auto&, json& m) { m["weights"]["W1"].erase("axis"); }, "an int8 weight needs \"axis\"");
  expect_refused([](auto&, json& m) { m["weights"]["W1"]["scales"] = 3; }, "\"scales\" (a tensor name)");
}

TEST(QuantizeModel, RefusesWhatItCannotDo) {
  const std::string dir = test::temp_dir();
  EXPECT_TRUE(test::throws_error_with(
      [&] { quantize_model(std::string(HEED_EXAMPLES) + "/mlp/mlp.json", dir + "/x.safetensors", Precision::f32); },
      "the precision must be int8 or bf16"));
  EXPECT_TRUE(test::throws_error_with(
      [&] { quantize_model(std::string(HEED_EXAMPLES) + "/mlp/mlp.json", dir + "/x.json", Precision::int8); },
      "the output of a model file must end in .safetensors"));
  const std::string marian = std::string(HEED_EXAMPLES) + "/dates-marian";
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(marian, marian, Precision::int8); },
                                      "the output directory must not be the model's own"));
  EXPECT_TRUE(test::throws_error_with(
      [&] { quantize_model(marian, test::write_file(dir, "a-file", "x"), Precision::int8); },
      "a checkpoint directory quantizes into a directory, and this is a file"));
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(dir + "/missing.json", dir + "/y.safetensors", Precision::int8); },
                                      "missing.json"));
}

}  // namespace
}  // namespace heed
