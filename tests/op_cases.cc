#include "tests/op_cases.h"

#include <algorithm>

#include "tests/seeded_weights.h"
#include "tests/test_util.h"

namespace heed::test {

using nlohmann::json;

const std::string& op_fixtures_path() {
  static const std::string path = [] {
    SafetensorsFile stored = read_safetensors(test::fixture("ops.safetensors"));
    NamedTensors all = stored.tensors;
    // The second file holds what did not fit in the first (5 MB a file); cases are listed in the first.
    for (auto& t : read_safetensors(test::fixture("ops_2.safetensors")).tensors) all.push_back(std::move(t));
    for (const json& e : json::parse(stored.metadata.at("seeded"))) {
      std::vector<int64_t> dims = e["shape"];
      all.emplace_back(e["name"], seeded_uniform(e["seed"], Shape(std::span<const int64_t>(dims)), e["low"], e["high"]));
    }
    std::string out = test::temp_dir() + "/ops_with_seeded.safetensors";
    write_safetensors(out, all, stored.metadata);
    return out;
  }();
  return path;
}

const SafetensorsFile& op_fixtures() {
  static const SafetensorsFile f = read_safetensors(op_fixtures_path());
  return f;
}

const json& op_case(const std::string& name) {
  static const std::vector<json> cases = op_cases();
  for (const json& c : cases)
    if (c["name"] == name) return c;
  throw std::runtime_error("no op case " + name);
}

std::vector<json> op_cases() {
  std::vector<json> cases;
  for (const json& c : json::parse(op_fixtures().metadata.at("cases"))) cases.push_back(c);
  return cases;
}

std::vector<int64_t> dims(const Tensor& t) { return {t.shape().begin(), t.shape().end()}; }

json op_case_graph(const json& c, TensorMap& inputs) {
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
    if (std::find(node_inputs.begin(), node_inputs.end() - 1, name) != node_inputs.end() - 1) continue;  // read twice
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

}  // namespace heed::test
