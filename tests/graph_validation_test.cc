// Malformed graph JSON and bad graphs: each is refused at load with a one-line
// error naming the place (file, graph, node, op, shapes); bad inputs at run time too.
#include <heed/error.h>
#include <heed/model.h>

#include <cstring>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

// A valid two-node graph; cases replace one piece of it.
const char* kNodes = R"([
  {"name": "fc1", "op": "Linear", "inputs": ["x", "w", "b"], "outputs": ["h"], "attrs": {"activation": "relu"}},
  {"name": "sm", "op": "Softmax", "inputs": ["h"], "outputs": ["y"]}])";

std::string graph(const std::string& nodes, const std::string& outputs = R"(["y"])",
                  const std::string& inputs = R"([{"name": "x", "dtype": "f32", "shape": ["batch", 4]}])",
                  const std::string& params = R"(["w", "b"])") {
  return R"({"format": "heed.graph", "version": 1, "graphs": {"main": {"inputs": )" + inputs +
         R"(, "outputs": )" + outputs + R"(, "parameters": )" + params + R"(, "nodes": )" + nodes + "}}}";
}

std::string node(const std::string& body) { return "[" + body + "]"; }

struct BadGraph {
  const char* name;
  std::string text;
  const char* error;
};

std::vector<BadGraph> corpus() {
  return {
      {"invalid_json", "{\"format\": ", "invalid JSON at byte"},
      {"wrong_format", R"({"format": "onnx", "version": 1, "graphs": {}})", "format: expected \"heed.graph\""},
      {"future_version", R"({"format": "heed.graph", "version": 2, "graphs": {}})", "unsupported version 2"},
      {"unknown_top_key", R"({"format": "heed.graph", "version": 1, "graphs": {}, "extra": 1})", "unknown key 'extra'"},
      {"no_graphs", R"({"format": "heed.graph", "version": 1, "graphs": {}})", "at least one graph"},
      {"node_without_op", graph(node(R"({"inputs": ["x"], "outputs": ["y"]})")), "graphs.main.nodes[0]: missing 'op'"},
      {"unknown_op", graph(node(R"({"name": "n", "op": "Frobnicate", "inputs": ["x"], "outputs": ["y"]})")), "node 'n' (Frobnicate): unknown op 'Frobnicate'"},
      {"undefined_value", graph(node(R"({"name": "n", "op": "Relu", "inputs": ["nope"], "outputs": ["y"]})")), "node 'n' (Relu): input 'nope' is not defined"},
      {"defined_twice", graph(R"([{"name": "a", "op": "Relu", "inputs": ["x"], "outputs": ["y"]}, {"name": "b", "op": "Relu", "inputs": ["x"], "outputs": ["y"]}])"), "value 'y' is defined twice"},
      {"shadows_input", graph(node(R"({"name": "a", "op": "Relu", "inputs": ["x"], "outputs": ["x"]})"), R"(["x"])"), "value 'x' is defined twice"},
      {"cycle", graph(R"([{"name": "a", "op": "Relu", "inputs": ["z"], "outputs": ["y"]}, {"name": "b", "op": "Relu", "inputs": ["y"], "outputs": ["z"]}])"), "the nodes a, b form a cycle"},
      {"missing_weight", graph(kNodes, R"(["y"])", R"([{"name": "x", "dtype": "f32", "shape": ["batch", 4]}])", R"(["w", "b", {"name": "w9", "weight": "nothere"}])"), "parameter 'w9' needs weight 'nothere'"},
      {"too_few_inputs", graph(node(R"({"name": "fc", "op": "Linear", "inputs": ["x"], "outputs": ["y"]})")), "node 'fc' (Linear): takes 2..3 inputs, got 1"},
      {"too_many_outputs", graph(node(R"({"name": "r", "op": "Relu", "inputs": ["x"], "outputs": ["y", "z"]})")), "has 1 outputs, got 2"},
      {"unknown_attr", graph(node(R"({"name": "sm", "op": "Softmax", "inputs": ["x"], "outputs": ["y"], "attrs": {"foo": 1}})")), "node 'sm' (Softmax): unknown attribute 'foo'"},
      {"attr_type", graph(node(R"({"name": "sm", "op": "Softmax", "inputs": ["x"], "outputs": ["y"], "attrs": {"axis": "last"}})")), "attribute 'axis' must be an integer"},
      {"attr_choice", graph(node(R"({"name": "fc", "op": "Linear", "inputs": ["x", "w"], "outputs": ["y"], "attrs": {"activation": "swish"}})")), "attribute 'activation' is 'swish', expected one of"},
      {"missing_required_attr", graph(node(R"({"name": "r", "op": "Reshape", "inputs": ["x"], "outputs": ["y"]})")), "node 'r' (Reshape): missing attribute 'shape'"},
      {"shape_mismatch", graph(kNodes, R"(["y"])", R"([{"name": "x", "dtype": "f32", "shape": ["batch", 5]}])"), "node 'fc1' (Linear): input features [batch, 5] and weight [8, 4] disagree: 5 vs 4"},
      {"dtype_mismatch", graph(kNodes, R"(["y"])", R"([{"name": "x", "dtype": "i64", "shape": ["batch", 4]}])"), "node 'fc1' (Linear): input 0 'x' has dtype i64, expected f32"},
      {"bad_broadcast", graph(node(R"({"name": "add", "op": "Add", "inputs": ["x", "b"], "outputs": ["y"]})")), "node 'add' (Add): shapes [batch, 4] and [8] cannot be broadcast"},
      {"axis_out_of_range", graph(node(R"({"name": "sm", "op": "Softmax", "inputs": ["x"], "outputs": ["y"], "attrs": {"axis": 2}})")), "axis 2 is out of range for rank 2"},
      {"undefined_output", graph(kNodes, R"(["zzz"])"), "output 'zzz' is not defined"},
      {"bad_dim", graph(kNodes, R"(["y"])", R"([{"name": "x", "dtype": "f32", "shape": [-3, 4]}])"), "a dim is a non-negative integer or a symbol name"},
      {"bad_dtype", graph(kNodes, R"(["y"])", R"([{"name": "x", "dtype": "f64", "shape": [2, 4]}])"), "unknown dtype 'f64'"},
      {"bad_reshape", graph(node(R"({"name": "r", "op": "Reshape", "inputs": ["w"], "outputs": ["y"], "attrs": {"shape": [5, -1]}})")), "node 'r' (Reshape): cannot reshape [8, 4] to [5, -1]"},
  };
}

class GraphValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    weights_ = dir_ + "/w.safetensors";
    write_safetensors(weights_, {{"w", Tensor::zeros(DType::f32, {8, 4})}, {"b", Tensor::zeros(DType::f32, {8})}});
  }
  std::string dir_, weights_;
};

TEST_F(GraphValidation, RefusesEachBadGraphWithItsOwnError) {
  for (const BadGraph& bad : corpus()) {
    std::string path = test::write_file(dir_, std::string(bad.name) + ".json", bad.text);
    try {
      Model::load(path, {weights_});
      ADD_FAILURE() << bad.name << ": accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(bad.error), std::string::npos) << bad.name << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << bad.name << ": not one line: " << msg;
    }
  }
}

TEST_F(GraphValidation, AcceptsTheValidBaseGraphAndNodesOutOfOrder) {
  std::string path = test::write_file(dir_, "ok.json", graph(kNodes));
  EXPECT_NO_THROW(Model::load(path, {weights_}));
  std::string reversed = R"([{"name": "sm", "op": "Softmax", "inputs": ["h"], "outputs": ["y"]},
    {"name": "fc1", "op": "Linear", "inputs": ["x", "w", "b"], "outputs": ["h"]}])";
  EXPECT_NO_THROW(Model::load(test::write_file(dir_, "rev.json", graph(reversed)), {weights_}));
}

void expect_run_error(Session& s, const TensorMap& inputs, const std::string& error) {
  try {
    s.run(inputs);
    ADD_FAILURE() << "accepted; expected: " << error;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(error), std::string::npos) << e.what();
  }
}

TEST_F(GraphValidation, RunRefusesBadInputsNamingThem) {
  Model model = Model::load(test::write_file(dir_, "ok.json", graph(kNodes)), {weights_});
  Session s(model);
  expect_run_error(s, {}, "input 'x' (f32[batch, 4]) is missing");
  expect_run_error(s, {{"x", Tensor::zeros(DType::f32, {2, 5})}}, "input 'x': expected f32[batch, 4], got f32[2, 5]");
  expect_run_error(s, {{"x", Tensor::zeros(DType::i64, {2, 4})}}, "input 'x': expected f32[batch, 4], got i64[2, 4]");
  expect_run_error(s, {{"x", Tensor::zeros(DType::f32, {2, 4})}, {"extra", Tensor::zeros(DType::f32, {1})}},
                   "graph 'main' has no input named 'extra'");
  EXPECT_NO_THROW(s.run({{"x", Tensor::zeros(DType::f32, {3, 4})}}));
}

TEST_F(GraphValidation, SymbolicDimsMustAgreeAcrossInputs) {
  std::string g = graph(node(R"({"name": "add", "op": "Add", "inputs": ["x", "m"], "outputs": ["y"]})"), R"(["y"])",
                        R"([{"name": "x", "dtype": "f32", "shape": ["batch", 4]}, {"name": "m", "dtype": "f32", "shape": ["batch", 1]}])");
  Session s(Model::load(test::write_file(dir_, "sym.json", g), {weights_}));
  expect_run_error(s, {{"x", Tensor::zeros(DType::f32, {2, 4})}, {"m", Tensor::zeros(DType::f32, {3, 1})}},
                   "input 'm': dim 'batch' is 3 here but 2 in input 'x'");
}

TEST_F(GraphValidation, OutOfRangeTokenIdIsAnErrorNotACrash) {
  std::string g = graph(node(R"({"name": "emb", "op": "Embedding", "inputs": ["ids", "w"], "outputs": ["y"]})"),
                        R"(["y"])", R"([{"name": "ids", "dtype": "i64", "shape": ["n"]}])", R"(["w"])");
  Session s(Model::load(test::write_file(dir_, "emb.json", g), {weights_}));
  Tensor ids = Tensor::empty(DType::i64, {3});
  int64_t vals[3] = {1, 8, 0};
  std::memcpy(ids.data(), vals, sizeof vals);
  expect_run_error(s, {{"ids", ids}}, "node 'emb' (Embedding): index 8 at position 1 is out of range [0, 8)");
  vals[1] = -1;
  std::memcpy(ids.data(), vals, sizeof vals);
  expect_run_error(s, {{"ids", ids}}, "index -1 at position 1 is out of range");
  vals[1] = 7;
  std::memcpy(ids.data(), vals, sizeof vals);
  EXPECT_NO_THROW(s.run({{"ids", ids}}));
}

TEST_F(GraphValidation, SafetensorsWithoutGraphMetadataIsExplained) {
  try {
    Model::load(weights_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no graph in __metadata__"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace heed
