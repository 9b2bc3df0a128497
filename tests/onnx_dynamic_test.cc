// Exports with dynamic axes (tests/reference/gen_onnx_dynamic.py): one session
// runs each model at several shapes (its plan follows the shapes the graph
// computes at run time) and gives onnxruntime's outputs; decoding step by step
// with past keys/values, or over the growing prefix, gives PyTorch's greedy tokens.
#include <gtest/gtest.h>

#include <heed/model.h>

#include <fmt/format.h>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

struct DynamicCase {
  const char* model;
  int cases;
};

class OnnxDynamic : public ::testing::TestWithParam<DynamicCase> {};

void expect_case(Session& session, const std::string& io_path) {
  SafetensorsFile io = read_safetensors(io_path);
  TensorMap inputs;
  for (const auto& [name, t] : io.tensors)
    if (name.starts_with("input.")) inputs[name.substr(6)] = t;
  TensorMap out = session.run(inputs);
  for (const auto& [name, want] : io.tensors)
    if (name.starts_with("output."))
      EXPECT_TRUE(test::all_close(out.at(name.substr(7)), want, 1e-4, 1e-5)) << io_path << ": " << name;
}

LoadOptions on(Device device) {
  LoadOptions o;
  o.device = device;
  return o;
}

// Every case, then every case again backwards: a session moves between plans.
void expect_every_shape(const DynamicCase& c, Device device) {
  const std::string stem = test::fixture(std::string("onnx/") + c.model);
  Session session(Model::load(stem + ".onnx", on(device)));
  for (int k = 1; k <= c.cases; ++k) expect_case(session, fmt::format("{}_io{}.safetensors", stem, k));
  for (int k = c.cases; k >= 1; --k) expect_case(session, fmt::format("{}_io{}.safetensors", stem, k));
}

TEST_P(OnnxDynamic, MatchesOnnxRuntimeAtEveryShape) { expect_every_shape(GetParam(), Device::cpu); }

class OnnxDynamicCuda : public ::testing::TestWithParam<DynamicCase> {};
TEST_P(OnnxDynamicCuda, MatchesOnnxRuntimeAtEveryShape) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  expect_every_shape(GetParam(), Device::cuda);
}

const auto kDynamicCases = ::testing::Values(DynamicCase{"bert_dynamic", 3}, DynamicCase{"gpt2_past", 3},
                                             DynamicCase{"marian_dynamic_encoder", 2},
                                             DynamicCase{"marian_dynamic_decoder", 3},
                                             // the same models exported for one case's shapes (fused whole)
                                             DynamicCase{"bert_fixed", 1}, DynamicCase{"marian_fixed_decoder", 1});
std::string case_name(const ::testing::TestParamInfo<DynamicCase>& info) { return info.param.model; }
INSTANTIATE_TEST_SUITE_P(Exports, OnnxDynamic, kDynamicCases, case_name);
INSTANTIATE_TEST_SUITE_P(Exports, OnnxDynamicCuda, kDynamicCases, case_name);

// An imported BERT's attention fuses into heed's attention ops, which capture
// their weights as the native ones do: PyTorch's attention probabilities. The
// dynamic export runs on ScaledDotProductAttention, the same model exported for
// the case's shapes on MultiHeadAttention (tests/onnx_fusion_test.cc).
class OnnxCapture : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxCapture, AnImportedBertsAttentionWeightsAreCapturedAsPyTorchsProbabilities) {
  const std::string stem = test::fixture(std::string("onnx/") + GetParam());
  LoadOptions options;
  options.capture_attention = true;
  Model model = Model::load(stem + ".onnx", options);
  SafetensorsFile io = read_safetensors(stem + "_io1.safetensors");
  SafetensorsFile want = read_safetensors(test::fixture("onnx/bert_dynamic_attention.safetensors"));
  TensorMap inputs{{"input_ids", *io.find("input.input_ids")}, {"attention_mask", *io.find("input.attention_mask")}};
  TensorMap out = Session(model).run(inputs);
  EXPECT_TRUE(test::all_close(out.at("y"), *io.find("output.y"), 1e-4, 1e-5));
  int layer = 0;
  for (const auto& [name, weights] : out) {  // "attention/<node>", in layer order
    if (!name.starts_with("attention/")) continue;
    EXPECT_TRUE(test::all_close(weights, *want.find(fmt::format("layer{}", layer)), 1e-4, 1e-6)) << name;
    ++layer;
  }
  EXPECT_EQ(layer, 2);
}

INSTANTIATE_TEST_SUITE_P(Exports, OnnxCapture, ::testing::Values("bert_dynamic", "bert_fixed"));

Tensor ones(int64_t batch, int64_t length) {
  Tensor t = Tensor::empty(DType::i64, Shape{batch, length});
  std::fill_n(t.data_as<int64_t>(), t.numel(), int64_t(1));
  return t;
}

// Row `position` of a [batch, length, vocab] tensor for one sequence, as a [vocab] tensor.
Tensor row(const Tensor& logits, int64_t b, int64_t position) {
  const int64_t length = logits.shape()[1], vocab = logits.shape()[2];
  Tensor r = Tensor::empty(DType::f32, Shape{vocab});
  std::copy_n(logits.data_as<float>() + (b * length + position) * vocab, vocab, r.data_as<float>());
  return r;
}

int64_t argmax(const Tensor& logits, int64_t b, int64_t position) {
  Tensor r = row(logits, b, position);
  const float* p = r.data_as<float>();
  return std::max_element(p, p + r.numel()) - p;
}

// GPT-2 with past keys/values: the prompt in one pass, then one token a step,
// each step's presents fed back as the next step's past.
void expect_gpt2_step_by_step(Device device) {
  Model model = Model::load(test::fixture("onnx/gpt2_past.onnx"), on(device));
  SafetensorsFile ref = read_safetensors(test::fixture("onnx/gpt2_greedy.safetensors"));
  const Tensor &prompt = *ref.find("prompt"), &want = *ref.find("tokens"), &full = *ref.find("logits");
  const int64_t batch = prompt.shape()[0], total = want.shape()[1];
  Session session(model);
  TensorMap in{{"input_ids", prompt}, {"attention_mask", ones(batch, prompt.shape()[1])}};
  for (int layer = 0; layer < 2; ++layer)
    for (const char* kv : {"k", "v"}) in[fmt::format("past_{}{}", kv, layer)] = Tensor::empty(DType::f32, Shape{batch, 4, 0, 8});
  int64_t done = 0;
  while (true) {
    TensorMap out = session.run(in);
    const Tensor& logits = out.at("logits");
    const int64_t fed = logits.shape()[1];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < fed; ++t)
        EXPECT_TRUE(test::all_close(row(logits, b, t), row(full, b, done + t), 1e-4, 1e-5))
            << "sequence " << b << ", position " << done + t;
    done += fed;
    if (done == total) break;
    Tensor next = Tensor::empty(DType::i64, Shape{batch, 1});
    for (int64_t b = 0; b < batch; ++b) {
      next.data_as<int64_t>()[b] = argmax(logits, b, fed - 1);
      EXPECT_EQ(next.data_as<int64_t>()[b], want.data_as<int64_t>()[b * total + done]) << "step " << done;
    }
    in["input_ids"] = next;
    in["attention_mask"] = ones(batch, done + 1);
    for (int layer = 0; layer < 2; ++layer)
      for (const char* kv : {"k", "v"})
        in[fmt::format("past_{}{}", kv, layer)] = out.at(fmt::format("present_{}{}", kv, layer));
  }
}

TEST(OnnxDynamicDecoding, Gpt2StepByStepEqualsTheFullPassAndPyTorchsGreedyTokens) { expect_gpt2_step_by_step(Device::cpu); }

TEST(OnnxDynamicDecodingCuda, Gpt2StepByStepEqualsTheFullPassAndPyTorchsGreedyTokens) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  expect_gpt2_step_by_step(Device::cuda);
}

// A Marian encoder and decoder exported apart: the encoder once, the decoder
// over the growing target prefix, greedy argmax as PyTorch's MarianMTModel.
TEST(OnnxDynamicDecoding, MarianEncoderAndDecoderGiveMarianMTModelsGreedyTokens) {
  SafetensorsFile ref = read_safetensors(test::fixture("onnx/marian_greedy.safetensors"));
  const Tensor &ids = *ref.find("input_ids"), &mask = *ref.find("attention_mask"), &want = *ref.find("tokens");
  Session encoder(Model::load(test::fixture("onnx/marian_dynamic_encoder.onnx")));
  Session decoder(Model::load(test::fixture("onnx/marian_dynamic_decoder.onnx")));
  Tensor memory = encoder.run({{"input_ids", ids}, {"attention_mask", mask}}).at("y");
  const int64_t batch = want.shape()[0], total = want.shape()[1];
  std::vector<std::vector<int64_t>> tokens(size_t(batch), std::vector<int64_t>{99});  // decoder_start_token_id
  for (int64_t t = 1; t < total; ++t) {
    Tensor prefix = Tensor::empty(DType::i64, Shape{batch, t});
    for (int64_t b = 0; b < batch; ++b) std::copy_n(tokens[size_t(b)].begin(), t, prefix.data_as<int64_t>() + b * t);
    Tensor logits = decoder.run({{"decoder_input_ids", prefix}, {"encoder_hidden_states", memory},
                                 {"encoder_attention_mask", mask}}).at("logits");
    for (int64_t b = 0; b < batch; ++b) tokens[size_t(b)].push_back(argmax(logits, b, t - 1));
  }
  for (int64_t b = 0; b < batch; ++b)
    EXPECT_EQ(tokens[size_t(b)], std::vector<int64_t>(want.data_as<int64_t>() + b * total,
                                                      want.data_as<int64_t>() + (b + 1) * total));
}

}  // namespace
}  // namespace heed
