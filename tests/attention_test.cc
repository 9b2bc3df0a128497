// MultiHeadAttention with a KV cache: a causal decode, token by token (after a
// 3-token prefill), equals PyTorch's full causal pass over the whole sequence.
#include <heed/error.h>
#include <heed/model.h>

#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "tests/op_cases.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using nlohmann::json;

constexpr int64_t kBatch = 2, kLen = 7, kEmbed = 16, kHeads = 4, kCap = 10;

std::string step_graph(int64_t cap) {
  json node = {{"name", "self_attn"}, {"op", "MultiHeadAttention"},
               {"inputs", {"x", "", "", "kvcache.in_proj_weight", "", "", "kvcache.in_proj_bias", "", "",
                           "kvcache.out_proj.weight", "kvcache.out_proj.bias", "", "", "cache_k", "cache_v", "pos"}},
               {"outputs", {"y"}}, {"attrs", {{"num_heads", kHeads}, {"causal", true}}}};
  json cache_shape = {"batch", kHeads, cap, kEmbed / kHeads};
  json g = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {"batch", "new", kEmbed}}},
                        {{"name", "cache_k"}, {"dtype", "f32"}, {"shape", cache_shape}},
                        {{"name", "cache_v"}, {"dtype", "f32"}, {"shape", cache_shape}},
                        {{"name", "pos"}, {"dtype", "i64"}, {"shape", json::array()}}}},
            {"outputs", {"y"}},
            {"parameters", {"kvcache.in_proj_weight", "kvcache.in_proj_bias", "kvcache.out_proj.weight",
                            "kvcache.out_proj.bias"}},
            {"nodes", {node}}};
  return json{{"format", "heed.graph"}, {"version", 1}, {"graphs", {{"step", g}}}}.dump();
}

Tensor rows(const Tensor& seq, int64_t t0, int64_t n) {  // seq[:, t0:t0+n, :]
  Tensor out = Tensor::empty(DType::f32, {kBatch, n, kEmbed});
  for (int64_t b = 0; b < kBatch; ++b)
    std::memcpy(out.data_as<float>() + b * n * kEmbed, seq.data_as<float>() + (b * kLen + t0) * kEmbed,
                size_t(n * kEmbed) * sizeof(float));
  return out;
}

Tensor scalar(int64_t v) {
  Tensor t = Tensor::empty(DType::i64, {});
  t.data_as<int64_t>()[0] = v;
  return t;
}

class KvCache : public ::testing::Test {
 protected:
  void SetUp() override {
    fixtures_ = read_safetensors(test::op_fixtures_path());
    path_ = test::write_file(test::temp_dir(), "step.json", step_graph(kCap));
  }
  SafetensorsFile fixtures_;
  std::string path_;
};

TEST_F(KvCache, StepwiseDecodeEqualsFullCausalPass) {
  Model model = Model::load(path_, {test::op_fixtures_path()});
  Session session(model, {"step", 2});
  const Tensor& x = *fixtures_.find("kvcache.x");
  const Tensor& full = *fixtures_.find("kvcache.full");
  TensorMap in = {{"cache_k", Tensor::zeros(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})},
                  {"cache_v", Tensor::zeros(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})}};
  const float* cache_k = in["cache_k"].data_as<float>();
  int64_t pos = 0;
  for (int64_t n : {3, 1, 1, 1, 1}) {  // a prefill of 3, then one token at a time
    in["x"] = rows(x, pos, n);
    in["pos"] = scalar(pos);
    Tensor y = session.run(in).at("y");
    EXPECT_TRUE(test::all_close(y, rows(full, pos, n), 1e-5, 1e-5)) << "positions " << pos << ".." << pos + n - 1;
    pos += n;
  }
  EXPECT_EQ(in["cache_k"].data_as<float>(), cache_k) << "the cache is updated in place, never replaced";
}

TEST_F(KvCache, FullCacheIsAnErrorNamingTheNode) {
  Model model = Model::load(path_, {test::op_fixtures_path()});
  Session session(model, {"step", 1});
  TensorMap in = {{"x", rows(*fixtures_.find("kvcache.x"), 0, 2)},
                  {"cache_k", Tensor::zeros(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})},
                  {"cache_v", Tensor::zeros(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})},
                  {"pos", scalar(kCap - 1)}};
  try {
    session.run(in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'self_attn' (MultiHeadAttention): KV cache cannot take 2 more positions"),
              std::string::npos)
        << e.what();
  }
}

// On the GPU, with the caches in device memory: decode steps (one token, the
// fused kernel, recorded as a CUDA Graph from the second step on) equal
// PyTorch's full pass, and a full cache is still reported by node, after a replay.
TEST_F(KvCache, GpuDecodeEqualsFullPassAndReportsAFullCache) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  LoadOptions o{test::op_fixtures_path()};
  o.device = Device::cuda;
  Model model = Model::load(path_, o);
  Session session(model, {"step"});
  const Tensor& x = *fixtures_.find("kvcache.x");
  const Tensor& full = *fixtures_.find("kvcache.full");
  TensorMap in = {{"cache_k", session.new_tensor(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})},
                  {"cache_v", session.new_tensor(DType::f32, {kBatch, kHeads, kCap, kEmbed / kHeads})}};
  int64_t pos = 0;
  for (int64_t n : {3, 1, 1, 1, 1}) {
    in["x"] = rows(x, pos, n);
    in["pos"] = scalar(pos);
    Tensor y = session.run(in).at("y");
    EXPECT_TRUE(test::all_close(y, rows(full, pos, n), 1e-5, 1e-5)) << "positions " << pos << ".." << pos + n - 1;
    pos += n;
  }
  in["x"] = rows(x, 0, 1);
  in["pos"] = scalar(kCap);
  EXPECT_TRUE(test::throws_error_with([&] { session.run(in); },
                                      "node 'self_attn' (MultiHeadAttention): KV cache cannot take 1 more positions"));
}

TEST_F(KvCache, CacheMustBeAGraphInput) {
  std::string text = step_graph(kCap);
  json doc = json::parse(text);
  auto& g = doc["graphs"]["step"];
  g["inputs"].erase(1);  // cache_k becomes the output of another node
  json copy = json::object({{"name", "copy"}, {"op", "Relu"}, {"inputs", {"cache_v"}}, {"outputs", {"cache_k"}}});
  g["nodes"].insert(g["nodes"].begin(), copy);
  std::string path = test::write_file(test::temp_dir(), "bad.json", doc.dump());
  try {
    Model::load(path, {test::op_fixtures_path()});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 13 'cache_k' is updated in place, so it must be a graph input"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// Capturing attention weights leaves every declared output bit-for-bit the same
// and returns PyTorch's weights under "attention/<node>".
TEST(AttentionCapture, ReturnsWeightsWithoutChangingOutputs) {
  for (const char* name : {"mha_self_padding_no_weights", "mha_long_blocked", "global_blocked_no_weights"}) {
    const nlohmann::json& c = test::op_case(name);
    TensorMap inputs;
    std::string path = test::write_file(test::temp_dir(), "g.json", test::op_case_graph(c, inputs).dump());
    LoadOptions plain{test::op_fixtures_path()}, capture = plain;
    capture.capture_attention = true;
    TensorMap a = Session(Model::load(path, plain), {"", 2}).run(inputs);
    TensorMap b = Session(Model::load(path, capture), {"", 2}).run(inputs);
    const std::string out = c["outputs"][0];
    ASSERT_EQ(a.at(out).nbytes(), b.at(out).nbytes());
    EXPECT_EQ(std::memcmp(a.at(out).data(), b.at(out).data(), a.at(out).nbytes()), 0) << name;
    std::string key = "attention/" + c["name"].get<std::string>();
    ASSERT_TRUE(b.count(key)) << name;
    if (std::string(name) == "mha_self_padding_no_weights")  // same inputs and module as mha_self_padding
      EXPECT_TRUE(test::all_close(b.at(key), *test::op_fixtures().find("mha_self_padding.out1"), 1e-5, 1e-6));
    // Each row of weights sums to one.
    const Tensor& w = b.at(key);
    int64_t n = w.shape()[w.shape().rank() - 1];
    for (int64_t r = 0; r < w.numel() / n; ++r) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += w.data_as<float>()[r * n + j];
      ASSERT_NEAR(sum, 1.0, 1e-4) << name << " row " << r;
    }
  }
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// A self-attention over a batch runs in chunks of items (projections, core,
// out projection per chunk, while its Q, K and V are in cache): the batch's
// output is its items' outputs run one by one, with per-item key padding and
// masks, in fp32 and in bf16 (the AMX core where the CPU has one). 72 items of
// 64 x 64 make chunks of 32, 32 and 8 in fp32, and of 64 and 8 in bf16 (its Q,
// K and V pass in bf16 there, half the bytes a row).
TEST(MhaBatchChunks, ABatchIsItsItemsRunOneByOne) {
  constexpr int64_t B = 72, T = 64, E = 64;
  std::mt19937 gen(40);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random = [&](Shape shape, float scale) {
    Tensor t = Tensor::empty(DType::f32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = normal(gen) * scale;
    return t;
  };
  const std::string dir = test::temp_dir();
  write_safetensors(dir + "/w.safetensors", {{"w_in", random({3 * E, E}, 0.15f)}, {"b_in", random({3 * E}, 0.1f)},
                                             {"w_out", random({E, E}, 0.15f)}, {"b_out", random({E}, 0.1f)}});
  json node = {{"name", "attn"}, {"op", "MultiHeadAttention"},
               {"inputs", {"x", "", "", "w_in", "", "", "b_in", "", "", "w_out", "b_out", "pad", "", "", "", "", "mask"}},
               {"outputs", {"y"}}, {"attrs", {{"num_heads", 1}}}};
  json g = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {"b", T, E}}},
                        {{"name", "pad"}, {"dtype", "bool"}, {"shape", {"b", T}}},
                        {{"name", "mask"}, {"dtype", "f32"}, {"shape", {"b", 1, T, T}}}}},
            {"outputs", {"y"}}, {"parameters", {"w_in", "b_in", "w_out", "b_out"}}, {"nodes", {node}}};
  const std::string path = test::write_file(
      dir, "g.json",
      json{{"format", "heed.graph"}, {"version", 1}, {"weights", "w.safetensors"}, {"graphs", {{"main", g}}}}.dump());
  Tensor x = random({B, T, E}, 1.f), mask = random({B, 1, T, T}, 1.f), pad = Tensor::zeros(DType::boolean, {B, T});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = T - b % 7 * 5; t < T; ++t) pad.data_as<uint8_t>()[b * T + t] = 1;  // items hide 0..30 keys
  auto item = [](const Tensor& t, int64_t b) {  // t[b:b+1]
    Shape s = t.shape();
    const size_t bytes = t.nbytes() / size_t(s[0]);
    s[0] = 1;
    Tensor out = Tensor::empty(t.dtype(), s);
    std::memcpy(out.data(), static_cast<const char*>(t.data()) + size_t(b) * bytes, bytes);
    return out;
  };
  for (Precision precision : {Precision::f32, Precision::bf16}) {
    std::string why;
    if (!test::precision_runs_here(precision, &why)) {
      std::printf("[ SKIPPED  ] %s: %s\n", std::string(precision_name(precision)).c_str(), why.c_str());
      continue;
    }
    LoadOptions options;
    options.precision = precision;
    Session session(Model::load(path, options), {"", 2});
    const Tensor batch = session.run({{"x", x}, {"pad", pad}, {"mask", mask}}).at("y");
    for (int64_t b = 0; b < B; ++b) {
      const Tensor one = session.run({{"x", item(x, b)}, {"pad", item(pad, b)}, {"mask", item(mask, b)}}).at("y");
      ASSERT_TRUE(test::all_close(item(batch, b), one, 1e-5, 1e-6)) << precision_name(precision) << " item " << b;
    }
  }
}

}  // namespace
}  // namespace heed
