// Every op case in tests/fixtures/ops.safetensors (written by
// tests/reference/gen_op_fixtures.py from PyTorch) run through heed as a
// one-node graph and compared within the case's tolerance.
#include <heed/model.h>

#include <nlohmann/json.hpp>

#include "loaders/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using nlohmann::json;

const SafetensorsFile& op_fixtures() {
  static const SafetensorsFile f = read_safetensors(test::fixture("ops.safetensors"));
  return f;
}

std::vector<json> op_cases() {
  std::vector<json> cases;
  for (const json& c : json::parse(op_fixtures().metadata.at("cases"))) cases.push_back(c);
  return cases;
}

std::vector<int64_t> dims(const Tensor& t) { return {t.shape().begin(), t.shape().end()}; }

// The one-node graph of a case: parameters for weight inputs, graph inputs for the rest.
json case_graph(const json& c, TensorMap& inputs) {
  const SafetensorsFile& f = op_fixtures();
  json g = {{"inputs", json::array()}, {"parameters", json::array()}, {"outputs", c["outputs"]}};
  json node_inputs = json::array();
  for (size_t i = 0; i < c["inputs"].size(); ++i) {
    if (c["inputs"][i].is_null()) {
      node_inputs.push_back("");
      continue;
    }
    std::string name = c["inputs"][i];
    node_inputs.push_back(name);
    const Tensor& t = *f.find(name);
    if (c["params"][i]) {
      g["parameters"].push_back(name);
    } else {
      g["inputs"].push_back({{"name", name}, {"dtype", dtype_name(t.dtype())}, {"shape", dims(t)}});
      inputs[name] = t;
    }
  }
  g["nodes"] = json::array({{{"name", c["name"]}, {"op", c["op"]}, {"inputs", node_inputs},
                             {"outputs", c["outputs"]}, {"attrs", c["attrs"]}}});
  return {{"format", "heed.graph"}, {"version", 1}, {"graphs", {{"main", g}}}};
}

class OpReference : public ::testing::TestWithParam<json> {};

TEST_P(OpReference, MatchesPyTorch) {
  const json& c = GetParam();
  TensorMap inputs;
  std::string dir = test::temp_dir();
  std::string path = test::write_file(dir, "graph.json", case_graph(c, inputs).dump());
  Model model = Model::load(path, {test::fixture("ops.safetensors")});
  Session session(model, {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the bound plan
    TensorMap outputs = session.run(inputs);
    for (const std::string& name : c["outputs"])
      EXPECT_TRUE(test::all_close(outputs.at(name), *op_fixtures().find(name), c["rtol"], c["atol"]))
          << c["name"].get<std::string>() << " output " << name << " (run " << repeat << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, OpReference, ::testing::ValuesIn(op_cases()),
                         [](const ::testing::TestParamInfo<json>& info) {
                           std::string n = info.param["name"];
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace heed
