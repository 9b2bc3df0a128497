// int8 with calibrated activation ranges (`heed quantize --calibrate`,
// engine/quantized_values.h): a convolution stack written by
// tests/reference/gen_static_int8_fixtures.py without heed, against PyTorch's
// computation of the same fixed-scale scheme (checked there against PyTorch's
// own quantized convolution); calibration against PyTorch's fp32 activations;
// ranges and inputs that are not what they should be.
#include <heed/error.h>
#include <heed/model.h>

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/model_impl.h"
#include "engine/quantize.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using json = nlohmann::json;

const SafetensorsFile& io() {
  static const SafetensorsFile f = read_safetensors(test::fixture("quantized/static_io.safetensors"));
  return f;
}

Tensor image_copy() {
  const Tensor& t = *io().find("img");
  return Tensor::copy_of(t.dtype(), t.shape(), t.data());
}

Model load(std::optional<Precision> precision, const std::string& file = test::fixture("quantized/static.json")) {
  LoadOptions o;
  o.precision = precision;
  if (file != test::fixture("quantized/static.json")) o.weights = test::fixture("quantized/static.safetensors");
  return Model::load(file, o);
}

TEST(CalibratedInt8, StoresActivationsBetweenConvolutionsAsIntegers) {
  Model model = load(Precision::int8);
  const CompiledGraph& g = model.impl().graph("");
  auto plan = g.plan_for({Shape{2, 5, 9, 9}});
  std::map<std::string, DType> want = {{"img", DType::f32}, {"a", DType::u8}, {"p", DType::u8}, {"d", DType::i8},
                                       {"b", DType::u8},    {"e", DType::u8}, {"y", DType::f32}};
  for (size_t v = 0; v < g.values().size(); ++v)
    if (auto it = want.find(g.values()[v].name); it != want.end())
      EXPECT_EQ(plan->values[v].dtype, it->second) << it->first;
  auto scale_of = [&](const std::string& name) {
    for (size_t v = 0; v < g.values().size(); ++v)
      if (g.values()[v].name == name) return plan->values[v].scale;
    return -1.f;
  };
  EXPECT_EQ(scale_of("p"), scale_of("a")) << "a max pool keeps its input's integers and scale";
  // conv4 adds its i8 residual into its u8 output in place.
  for (const CompiledNode& n : g.nodes())
    if (n.node->name == "conv4") EXPECT_EQ(plan->alias_of[size_t(n.out_ids[0])], n.in_ids[3]);
}

TEST(ActivationRanges, InspectSaysTheGraphIsCalibrated) {
  EXPECT_NE(load(Precision::int8).describe().find("activation ranges: 6 calibrated (heed quantize --calibrate): int8 "
                                                  "convolutions run at their fixed scales"),
            std::string::npos);
  EXPECT_NE(load(Precision::f32).describe().find("activation ranges: 6 calibrated (heed quantize --calibrate): used in "
                                                 "int8 only"),
            std::string::npos);
}

TEST(CalibratedInt8, MatchesPyTorchsFixedScaleArithmetic) {
  Session session(load(Precision::int8), {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {
    Tensor y = session.run({{"img", *io().find("img")}}).at("y");
    // Bit for bit but for rounding ties inside oneDNN (measured: equal here); 7-bit weights without AVX-512 VNNI.
    EXPECT_TRUE(test::all_close(y, *io().find(test::int8_convolutions_in_7_bits() ? "y.7bit" : "y"), 1e-5, 1e-5));
  }
}

TEST(CalibratedInt8, OtherPrecisionsIgnoreTheRanges) {
  Tensor y = Session(load(Precision::f32), {"", 2}).run({{"img", *io().find("img")}}).at("y");
  EXPECT_TRUE(test::all_close(y, *io().find("y.f32"), 1e-5, 1e-5));
}

TEST(CalibratedInt8, InfOrNanInputIsAnErrorNamingTheNode) {
  Tensor img = image_copy();
  img.data_as<float>()[7] = NAN;
  Session session(load(Precision::int8), {"", 2});
  EXPECT_TRUE(test::throws_error_with([&] { session.run({{"img", img}}); }, "'conv1'"));
  img.data_as<float>()[7] = INFINITY;
  EXPECT_TRUE(test::throws_error_with([&] { session.run({{"img", img}}); }, "inf or NaN"));
}

// `heed quantize --calibrate` measures the fp32 activations PyTorch computed.
TEST(Calibrate, FindsTheRangesOfTheFp32Activations) {
  const std::string dir = test::temp_dir(), sample = dir + "/static_sample.safetensors", out = dir + "/static_q.safetensors";
  json doc = json::parse(std::ifstream(test::fixture("quantized/static.json")));
  doc["graphs"]["main"].erase("activation_ranges");
  doc.erase("weights");
  const std::string bare = dir + "/static_bare.json";
  std::ofstream(bare) << doc.dump();
  write_safetensors(sample, {{"img", *io().find("img")}});
  Calibration c{{sample}};
  QuantizeSummary s = quantize_model(bare, out, Precision::int8, test::fixture("quantized/static.safetensors"), &c);
  EXPECT_EQ(s.calibrated, 7u) << "img, a, p, d, b, e, y";
  const Model quantized = Model::load(out);
  const auto& ranges = quantized.impl().graph("").graph().activation_ranges;
  for (const char* v : {"img", "a", "p", "d", "b", "e"}) {
    const float* want = io().find(std::string("range.") + v)->data_as<float>();
    ASSERT_TRUE(ranges.count(v)) << v;
    EXPECT_NEAR(ranges.at(v).first, want[0], 1e-5 * std::fabs(want[0]) + 1e-6) << v;
    EXPECT_NEAR(ranges.at(v).second, want[1], 1e-5 * std::fabs(want[1]) + 1e-6) << v;
  }
  if (test::int8_convolutions_in_7_bits()) return;  // 7-bit weights made from the file's 8-bit ones: other values
  Tensor y = Session(quantized, {"", 2}).run({{"img", *io().find("img")}}).at("y");
  EXPECT_TRUE(test::all_close(y, *io().find("y"), 1e-4, 1e-4)) << "the stored weights are the ones int8 loading makes";
}

TEST(Calibrate, RefusesWhatItCannotUse) {
  const std::string dir = test::temp_dir(), out = dir + "/static_refused.safetensors";
  const std::string model = test::fixture("quantized/static.json");
  const std::string wrong = dir + "/static_wrong_input.safetensors";
  write_safetensors(wrong, {{"image", *io().find("img")}});
  Calibration c{{wrong}};
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(model, out, Precision::int8, "", &c); }, wrong));
  Tensor nan = image_copy();
  nan.data_as<float>()[3] = NAN;
  const std::string bad = dir + "/static_nan.safetensors";
  write_safetensors(bad, {{"img", nan}});
  c = {{bad}};
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(model, out, Precision::int8, "", &c); }, "value 'img'"));
  c = {{wrong}, "decoder"};
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(model, out, Precision::int8, "", &c); },
                                      "no graph named 'decoder'"));
  c = {{wrong}};
  EXPECT_TRUE(test::throws_error_with([&] { quantize_model(model, out, Precision::bf16, "", &c); }, "for int8"));
}

// A graph's activation_ranges as a hostile file writes them.
TEST(ActivationRanges, MalformedOnesAreRefusedNamingTheValue) {
  json doc = json::parse(std::ifstream(test::fixture("quantized/static.json")));
  doc.erase("weights");
  const std::string dir = test::temp_dir();
  auto refused = [&](const json& ranges, const std::string& part) {
    json d = doc;
    d["graphs"]["main"]["activation_ranges"] = ranges;
    const std::string file = dir + "/static_hostile.json";
    std::ofstream(file) << d.dump();
    return test::throws_error_with([&] { load(Precision::int8, file); }, part);
  };
  EXPECT_TRUE(refused({{"a", {1.0, 0.0}}}, "activation_ranges.a"));
  EXPECT_TRUE(refused({{"a", {0.0}}}, "expected [min, max]"));
  EXPECT_TRUE(refused({{"a", {"0", 1}}}, "expected [min, max]"));
  EXPECT_TRUE(refused({{"a", {0.0, 1e300}}}, "not a finite range"));
  EXPECT_TRUE(refused({{"nowhere", {0.0, 1.0}}}, "'nowhere' is not a value of the graph"));
  EXPECT_TRUE(refused(json::array(), "activation_ranges"));
}

}  // namespace
}  // namespace heed
