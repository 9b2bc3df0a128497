// Whole graphs against PyTorch modules (fixtures from tests/reference/gen_model_fixtures.py),
// the single-file model form, memory planning, and concurrent sessions.
#include <heed/model.h>

#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "engine/half.h"
#include "engine/model_impl.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

TensorMap load_tensors(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  return TensorMap(f.tensors.begin(), f.tensors.end());
}

std::string example(const std::string& name) { return std::string(HEED_EXAMPLES) + "/" + name; }

void expect_outputs(const TensorMap& got, const TensorMap& expected, double rtol, double atol) {
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_TRUE(test::all_close(got.at(name), t, rtol, atol)) << name;
  }
}

TEST(Model, MlpMatchesPyTorch) {
  Model model = Model::load(example("mlp/mlp.json"));
  Session session(model);
  expect_outputs(session.run(load_tensors(example("mlp/mlp_inputs.safetensors"))),
                 load_tensors(example("mlp/mlp_expected.safetensors")), 1e-5, 1e-6);
}

TEST(Model, TransformerBlockMatchesTorchEncoderLayer) {
  Model model = Model::load(test::fixture("block.json"));
  Session session(model, {"", 2});
  TensorMap inputs = load_tensors(test::fixture("block_inputs.safetensors"));
  expect_outputs(session.run(inputs), load_tensors(test::fixture("block_expected.safetensors")), 1e-5, 1e-5);
}

// One sequence alone through the symbolic-shape graph equals its row of the batch.
TEST(Model, TransformerBlockSingleSequenceEqualsItsBatchRow) {
  Model model = Model::load(test::fixture("block.json"));
  Session session(model, {"", 1});
  TensorMap inputs = load_tensors(test::fixture("block_inputs.safetensors"));
  Tensor expected = load_tensors(test::fixture("block_expected.safetensors")).at("y");
  const Tensor& x = inputs.at("x");
  TensorMap one = {{"x", Tensor::copy_of(DType::f32, {1, 5, 32}, x.data_as<float>())},
                   {"mask", Tensor::zeros(DType::f32, {1, 1, 1, 5})}};
  Tensor first = Tensor::copy_of(DType::f32, {1, 5, 32}, expected.data_as<float>());
  EXPECT_TRUE(test::all_close(session.run(one).at("y"), first, 1e-5, 1e-5));
}

TEST(Model, SingleSafetensorsFileWithGraphInMetadata) {
  std::ifstream json_file(example("mlp/mlp.json"));
  nlohmann::json doc = nlohmann::json::parse(json_file);
  doc.erase("weights");
  SafetensorsFile weights = read_safetensors(example("mlp/mlp.safetensors"));
  std::string path = test::temp_dir() + "/mlp_single.safetensors";
  write_safetensors(path, weights.tensors, {{"heed.graph", doc.dump()}});
  Session session(Model::load(path));
  expect_outputs(session.run(load_tensors(example("mlp/mlp_inputs.safetensors"))),
                 load_tensors(example("mlp/mlp_expected.safetensors")), 1e-5, 1e-6);
}

// Half-precision weights are widened to f32 at load; the values are exactly the
// halves' values (the conversion itself is checked against PyTorch by the Cast cases).
TEST(Model, HalfPrecisionWeightsAreWidenedAtLoad) {
  SafetensorsFile f32 = read_safetensors(example("mlp/mlp.safetensors"));
  NamedTensors halves;
  for (const auto& [name, t] : f32.tensors) {
    Tensor h = Tensor::empty(DType::f16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) h.data_as<uint16_t>()[i] = f32_to_f16(t.data_as<float>()[i]);
    halves.emplace_back(name, h);
  }
  std::string path = test::temp_dir() + "/mlp_f16.safetensors";
  write_safetensors(path, halves);
  WeightStore store;  // what Model::load does with the file (its weights are freed once packed)
  store.add_file(read_safetensors(path));
  const Tensor* w = store.find("0.weight");
  ASSERT_EQ(w->dtype(), DType::f32);
  const Tensor* h = nullptr;
  for (const auto& [name, t] : halves)
    if (name == "0.weight") h = &t;
  for (int64_t i = 0; i < w->numel(); ++i) ASSERT_EQ(w->data_as<float>()[i], f16_to_f32(h->data_as<uint16_t>()[i]));
  // Rounding the weights to half moves the probabilities by about 1e-3 at most.
  Model model = Model::load(example("mlp/mlp.json"), {path});
  expect_outputs(Session(model).run(load_tensors(example("mlp/mlp_inputs.safetensors"))),
                 {{"probs", load_tensors(example("mlp/mlp_expected.safetensors")).at("probs")}}, 0, 5e-3);
}

TEST(Model, ArenaReusesMemoryOfDeadValues) {
  Model model = Model::load(test::fixture("block.json"));
  const CompiledGraph& g = model.impl().graph("");
  auto plan = g.plan_for({Shape{8, 64, 32}, Shape{8, 1, 1, 64}});
  size_t sum = 0;
  for (size_t v = 0; v < g.values().size(); ++v)
    if (plan->offset[v] >= 0) sum += plan->values[v].nbytes();
  EXPECT_GT(plan->arena_bytes, 0u);
  EXPECT_LT(plan->arena_bytes, sum / 2) << "arena " << plan->arena_bytes << " vs " << sum << " unplanned";
  // Views share their input's bytes instead of taking arena space.
  int views = 0;
  for (int a : plan->alias_of) views += a >= 0;
  EXPECT_GE(views, 4);
}

// A session fed many input shapes keeps a few bound plans (arenas, prepared
// kernels) and rebuilds an evicted one on demand: results stay right, and the
// profile keeps one row per node and shape.
// 1x1 convolutions over x [1, 2, 2, 2]: a conv adding residual h writes its
// output over h when nothing reads h afterwards, and not when a later conv does.
// Expected values: the channel mixes computed here by hand.
TEST(Model, ConvWritesOverItsResidualOnlyWhenNothingReadsItLater) {
  auto conv = [](const char* name, const char* x, const char* w, const char* residual, const char* y) {
    return fmt::format(R"({{"name": "{}", "op": "Conv2d", "inputs": ["{}", "{}", "", "{}"], "outputs": ["{}"]}})", name,
                       x, w, residual, y);
  };
  const std::vector<float> w1 = {1, 2, 3, 4}, w2 = {0.5f, -1, 2, 1}, w3 = {1, 1, -1, 2}, w4 = {2, 0, 1, -1};
  auto mix = [](const std::vector<float>& w, const std::vector<float>& v) {  // [2][2] over [2 channels][4 pixels]
    std::vector<float> out(8);
    for (int o = 0; o < 2; ++o)
      for (int p = 0; p < 4; ++p) out[size_t(o * 4 + p)] = w[size_t(o * 2)] * v[size_t(p)] + w[size_t(o * 2 + 1)] * v[size_t(4 + p)];
    return out;
  };
  auto plus = [](std::vector<float> a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  };
  std::vector<float> x = {1, -2, 3, 0.5f, -1, 4, 2, -3};
  std::vector<float> h = mix(w1, x), o = plus(mix(w3, mix(w2, h)), h), y = mix(w4, o);
  auto constant = [](const char* name, const std::vector<float>& w) {
    return fmt::format(R"({{"name": "{}", "dtype": "f32", "shape": [2, 2, 1, 1], "data": [{}]}})", name, fmt::join(w, ", "));
  };
  for (bool read_later : {false, true}) {
    std::string nodes = conv("c1", "x", "w1", "", "h") + ", " + conv("c2", "h", "w2", "", "g") + ", " +
                        conv("c3", "g", "w3", "h", "o") + ", " + conv("c4", "o", "w4", "", "y");
    if (read_later) nodes += ", " + conv("c5", "y", "w4", "h", "z");
    std::string text = fmt::format(
        R"({{"format": "heed.graph", "version": 1, "graphs": {{"main": {{"inputs": [{{"name": "x", "dtype": "f32", "shape": [1, 2, 2, 2]}}],
            "outputs": ["{}"], "constants": [{}, {}, {}, {}], "nodes": [{}]}}}}}})",
        read_later ? "z" : "y", constant("w1", w1), constant("w2", w2), constant("w3", w3), constant("w4", w4), nodes);
    Model model = Model::load(test::write_file(test::temp_dir(), "residual.json", text));
    const CompiledGraph& g = model.impl().graph("");
    auto plan = g.plan_for({Shape{1, 2, 2, 2}});
    auto id = [&](const std::string& name) {
      for (size_t v = 0; v < g.values().size(); ++v)
        if (g.values()[v].name == name) return int(v);
      return -1;
    };
    EXPECT_EQ(plan->alias_of[size_t(id("o"))], read_later ? -1 : id("h")) << (read_later ? "h read later" : "h dead");
    Tensor input = Tensor::zeros(DType::f32, {1, 2, 2, 2});
    std::memcpy(input.data(), x.data(), x.size() * sizeof(float));
    TensorMap out = Session(model).run({{"x", input}});
    std::vector<float> expected = read_later ? plus(mix(w4, y), h) : y;
    const Tensor& got = out.at(read_later ? "z" : "y");
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(got.data_as<float>()[i], expected[i]) << i;
  }
}

TEST(Model, SessionOverManyShapesEvictsAndRebuildsPlans) {
  Model model = Model::load(example("mlp/mlp.json"));
  Session session(model, {"", 1, true});
  Session reference(model, {"", 1});
  const TensorMap base = load_tensors(example("mlp/mlp_inputs.safetensors"));
  const Tensor& x = base.at("x");
  const int64_t features = x.shape()[1];
  auto rows = [&](int64_t n) {
    Tensor t = Tensor::empty(DType::f32, {n, features});
    for (int64_t i = 0; i < n * features; ++i) t.data_as<float>()[i] = x.data_as<float>()[i % x.numel()];
    return TensorMap{{"x", t}};
  };
  for (int round = 0; round < 2; ++round)
    for (int64_t n = 1; n <= 12; ++n) {
      TensorMap in = rows(n);
      TensorMap got = session.run(in), want = reference.run(in);
      for (const auto& [name, t] : want) EXPECT_TRUE(test::all_close(got.at(name), t, 0, 0)) << name << " rows " << n;
    }
  const Profile p = session.profile();
  EXPECT_EQ(p.nodes.size(), 12u * 4u);  // 12 shapes x 4 nodes, not repeated after evictions
  for (const NodeTiming& n : p.nodes) EXPECT_EQ(n.calls, 2) << n.node << " " << n.input_shapes;
}

TEST(Model, ProfileCountsEveryNodeAndWritesAChromeTrace) {
  Model model = Model::load(example("mlp/mlp.json"));
  Session session(model, {"", 1, true});
  TensorMap inputs = load_tensors(example("mlp/mlp_inputs.safetensors"));
  for (int i = 0; i < 3; ++i) session.run(inputs);
  Profile p = session.profile();
  ASSERT_EQ(p.nodes.size(), 4u);
  for (const NodeTiming& n : p.nodes) EXPECT_EQ(n.calls, 3) << n.node;
  EXPECT_EQ(p.events.size(), 12u);
  EXPECT_NE(p.table().find("Linear"), std::string::npos);
  std::string path = test::temp_dir() + "/trace.json";
  p.write_chrome_trace(path);
  std::ifstream f(path);
  nlohmann::json trace = nlohmann::json::parse(f);
  ASSERT_EQ(trace["traceEvents"].size(), 12u);
  const auto& e = trace["traceEvents"][0];
  EXPECT_EQ(e["ph"], "X");
  EXPECT_TRUE(e["ts"].is_number() && e["dur"].is_number());
  EXPECT_EQ(e["args"]["op_name"], "Linear");
  EXPECT_EQ(e["args"]["input_shapes"], "[4, 16] [32, 16] [32]");
}

// On the CPU a session's "device memory" is host memory: new_tensor gives
// zeros, to_device/to_host hand the tensor back, and a caller-owned output made
// by new_tensor is written in place.
TEST(Model, SessionTensorsOnTheCpuAreHostTensors) {
  Model model = Model::load(example("mlp/mlp.json"));
  Session session(model, {"", 1});
  const TensorMap base = load_tensors(example("mlp/mlp_inputs.safetensors"));
  Tensor z = session.new_tensor(DType::f32, {3, 5});
  EXPECT_EQ(z.device(), Device::cpu);
  for (int64_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z.data_as<float>()[i], 0.0f);
  const Tensor& x = base.at("x");
  EXPECT_EQ(session.to_device(x).data(), x.data());
  EXPECT_EQ(session.to_host(x).data(), x.data());
  const TensorMap want = session.run({{"x", x}});
  const std::string out_name = want.begin()->first;
  const Tensor& y = want.begin()->second;
  TensorMap out{{out_name, session.new_tensor(y.dtype(), y.shape())}};
  const void* where = out.at(out_name).data();
  session.run({{"x", x}}, out);
  EXPECT_EQ(out.at(out_name).data(), where);
  EXPECT_TRUE(test::all_close(out.at(out_name), y, 0, 0));
}

// A tensor in GPU memory handed to a CPU session: refused by name as an input
// (its pointer never read), replaced by a host tensor as an output (never written).
TEST(Model, TensorInAnotherDevicesMemoryIsRefused) {
  Model model = Model::load(example("mlp/mlp.json"));
  Session session(model, {"", 1});
  const TensorMap base = load_tensors(example("mlp/mlp_inputs.safetensors"));
  const Tensor& x = base.at("x");
  std::vector<float> fake(size_t(x.numel()), 7.0f);
  Tensor on_gpu = Tensor::on_device(Device::cuda, DType::f32, x.shape(), fake.data());
  EXPECT_EQ(on_gpu.device(), Device::cuda);
  EXPECT_EQ(on_gpu.reshaped({x.numel()}).device(), Device::cuda);
  EXPECT_TRUE(test::throws_error_with([&] { session.run({{"x", on_gpu}}); },
                                      "input 'x' is in cuda memory, but graph 'main' runs on the cpu backend"));
  EXPECT_TRUE(test::throws_error_with([&] { session.to_host(on_gpu); }, "another device's memory"));
  const TensorMap want = session.run({{"x", x}});
  const std::string out_name = want.begin()->first;
  const Tensor& y = want.begin()->second;
  std::vector<float> sink(size_t(y.numel()), 7.0f);
  TensorMap out{{out_name, Tensor::on_device(Device::cuda, y.dtype(), y.shape(), sink.data())}};
  session.run({{"x", x}}, out);
  EXPECT_EQ(out.at(out_name).device(), Device::cpu);
  EXPECT_TRUE(test::all_close(out.at(out_name), y, 0, 0));
  for (float v : sink) ASSERT_EQ(v, 7.0f);
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// A weight that Linear packed leaves memory at load; one that another node reads
// when it runs (a tied embedding: Gather and the output Linear) stays. The packed
// one is [in, out], which every CPU kernel copies (AVX2's oneDNN may read an
// [out, in] weight where it is). Values by hand.
TEST(Model, WeightsThatKernelsPackedLeaveMemoryAndTheOthersStay) {
  const std::vector<float> table = {1, 2, 3, -1, 0, 2, 0.5f, 4, -2, 3, 1, 1};  // [4, 3]
  const std::vector<float> w2 = {1, 0, -1, 3, 2, 1};                           // [3, 2], in_out
  const std::string dir = test::temp_dir();
  write_safetensors(dir + "/tied.safetensors", {{"table", Tensor::copy_of(DType::f32, {4, 3}, table.data())},
                                                {"w2", Tensor::copy_of(DType::f32, {3, 2}, w2.data())}});
  const std::string text = R"({"format": "heed.graph", "version": 1, "weights": "tied.safetensors", "graphs": {"main": {
      "inputs": [{"name": "ids", "dtype": "i64", "shape": [2]}, {"name": "x", "dtype": "f32", "shape": [1, 3]}],
      "outputs": ["e", "logits", "y2"], "parameters": ["table", "w2"], "nodes": [
        {"name": "embed", "op": "Gather", "inputs": ["table", "ids"], "outputs": ["e"]},
        {"name": "tied", "op": "Linear", "inputs": ["x", "table"], "outputs": ["logits"]},
        {"name": "own", "op": "Linear", "inputs": ["x", "w2"], "outputs": ["y2"], "attrs": {"weight_layout": "in_out"}}]}}})";
  Model model = Model::load(test::write_file(dir, "tied.json", text));
  EXPECT_NE(model.impl().weights().find("table")->data(), nullptr);  // Gather reads it
  EXPECT_EQ(model.impl().weights().find("w2")->data(), nullptr);     // packed by its Linear
  Tensor ids = Tensor::empty(DType::i64, {2});
  ids.data_as<int64_t>()[0] = 3, ids.data_as<int64_t>()[1] = 1;
  const std::vector<float> x = {2, -1, 0.5f};
  TensorMap out = Session(model).run({{"ids", ids}, {"x", Tensor::copy_of(DType::f32, {1, 3}, x.data())}});
  const std::vector<float> e = {3, 1, 1, -1, 0, 2}, logits = {1.5f, -1, -4, 5.5f}, y2 = {4, -2.5f};
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(out.at("e").data_as<float>()[i], e[i]);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_FLOAT_EQ(out.at("logits").data_as<float>()[i], logits[i]);
  for (size_t i = 0; i < y2.size(); ++i) EXPECT_FLOAT_EQ(out.at("y2").data_as<float>()[i], y2[i]);
}

}  // namespace
}  // namespace heed
