#include "engine/graph_json.h"

#include <heed/error.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/checked.h"
#include "engine/json_text.h"

namespace heed::ir {
namespace {

using json = nlohmann::json;

// Walks the document remembering where it is, so every error names the place:
// "model.json: graphs.main.nodes[2].inputs: expected an array of strings".
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error(fmt::format("{}: {}: {}", source_, where, what));
  }
  const json& field(const json& obj, const std::string& where, const char* key) const {
    if (!obj.contains(key)) fail(where, fmt::format("missing '{}'", key));
    return obj.at(key);
  }
  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string()) fail(where, "expected a string");
    return v.get<std::string>();
  }
  const json& object(const json& v, const std::string& where) const {
    if (!v.is_object()) fail(where, "expected an object");
    return v;
  }
  const json& array(const json& v, const std::string& where) const {
    if (!v.is_array()) fail(where, "expected an array");
    return v;
  }
  std::vector<std::string> strings(const json& v, const std::string& where) const {
    std::vector<std::string> out;
    for (size_t i = 0; i < array(v, where).size(); ++i)
      out.push_back(string(v[i], fmt::format("{}[{}]", where, i)));
    return out;
  }
  void only_keys(const json& obj, const std::string& where, std::set<std::string> allowed) const {
    for (auto it = obj.begin(); it != obj.end(); ++it)
      if (!allowed.count(it.key())) fail(where, fmt::format("unknown key '{}'", it.key()));
  }

  AttrValue attr(const json& v, const std::string& where) const {
    if (v.is_boolean()) return int64_t(v.get<bool>());
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) return v.get<std::string>();
    if (!v.is_array()) fail(where, "expected a number, string, bool or array");
    bool any_float = false;
    for (const json& e : v) {
      if (!e.is_number()) fail(where, "arrays must hold numbers only");
      any_float |= !e.is_number_integer();
    }
    if (!any_float) return v.get<std::vector<int64_t>>();
    return v.get<std::vector<double>>();
  }

  SymShape shape(const json& v, const std::string& where) const {
    SymShape s;
    for (size_t i = 0; i < array(v, where).size(); ++i) {
      const json& d = v[i];
      if (d.is_number_integer() && d.get<int64_t>() >= 0) s.push_back(Dim::known(d.get<int64_t>()));
      else if (d.is_string() && !d.get<std::string>().empty()) s.push_back(Dim::symbol(d.get<std::string>()));
      else fail(fmt::format("{}[{}]", where, i), "a dim is a non-negative integer or a symbol name");
    }
    if (s.size() > size_t(Shape::kMaxRank)) fail(where, fmt::format("rank exceeds {}", Shape::kMaxRank));
    return s;
  }

  DType dtype(const json& v, const std::string& where) const {
    try {
      return dtype_from_name(string(v, where));
    } catch (const Error& e) {
      fail(where, e.what());
    }
  }

  Constant constant(const json& c, const std::string& where) const;
  Node node(const json& n, const std::string& where, size_t index) const;
  std::map<std::string, std::pair<float, float>> ranges(const json& r, const std::string& where) const;
  Graph graph(const json& g, const std::string& where, const std::string& name) const;

 private:
  std::string source_;
};

Constant Reader::constant(const json& c, const std::string& where) const {
  object(c, where);
  only_keys(c, where, {"name", "dtype", "shape", "data"});
  Constant k{string(field(c, where, "name"), where + ".name"), {}};
  DType dt = dtype(field(c, where, "dtype"), where + ".dtype");
  SymShape sym = shape(field(c, where, "shape"), where + ".shape");
  if (!all_known(sym)) fail(where + ".shape", "a constant's shape must be fully known");
  Shape s = to_shape(sym);
  if (!checked_bytes(s.dims(), 8)) fail(where + ".shape", fmt::format("{} is too large for a constant", s.str()));
  const json& data = array(field(c, where, "data"), where + ".data");
  if (int64_t(data.size()) != s.numel())
    fail(where + ".data", fmt::format("has {} values, shape {} needs {}", data.size(), s.str(), s.numel()));
  if (dt != DType::f32 && dt != DType::i64 && dt != DType::i32)
    fail(where + ".dtype", "constants are f32, i32 or i64");
  k.value = Tensor::empty(dt, s);
  for (size_t i = 0; i < data.size(); ++i) {
    const std::string at = fmt::format("{}.data[{}]", where, i);
    if (!data[i].is_number()) fail(at, "expected a number");
    if (dt == DType::f32) {
      k.value.data_as<float>()[i] = data[i].get<float>();
      continue;
    }
    // Integers in range only: get<int32_t>() would wrap or truncate silently.
    bool fits = data[i].is_number_integer() && (data[i].is_number_unsigned() ? data[i].get<uint64_t>() <= uint64_t(INT64_MAX) : true);
    int64_t v = fits ? data[i].get<int64_t>() : 0;
    if (dt == DType::i32) fits &= v >= INT32_MIN && v <= INT32_MAX;
    if (!fits) fail(at, fmt::format("{} is not an integer that fits {}", data[i].dump(), dtype_name(dt)));
    if (dt == DType::i32) k.value.data_as<int32_t>()[i] = int32_t(v);
    else k.value.data_as<int64_t>()[i] = v;
  }
  return k;
}

// {"value": [min, max], ...}: finite, min <= max.
std::map<std::string, std::pair<float, float>> Reader::ranges(const json& r, const std::string& where) const {
  object(r, where);
  std::map<std::string, std::pair<float, float>> out;
  for (auto it = r.begin(); it != r.end(); ++it) {
    const std::string w = where + "." + it.key();
    const json& v = array(it.value(), w);
    if (v.size() != 2 || !v[0].is_number() || !v[1].is_number()) fail(w, "expected [min, max]");
    const double lo = v[0].get<double>(), hi = v[1].get<double>();
    if (!std::isfinite(lo) || !std::isfinite(hi) || std::fabs(lo) > FLT_MAX || std::fabs(hi) > FLT_MAX || lo > hi)
      fail(w, fmt::format("[{}, {}] is not a finite range (min <= max)", v[0].dump(), v[1].dump()));
    out[it.key()] = {float(lo), float(hi)};
  }
  return out;
}

Node Reader::node(const json& n, const std::string& where, size_t index) const {
  object(n, where);
  only_keys(n, where, {"name", "op", "inputs", "outputs", "attrs"});
  Node node;
  node.op = string(field(n, where, "op"), where + ".op");
  node.name = n.contains("name") ? string(n["name"], where + ".name") : fmt::format("{}_{}", node.op, index);
  node.inputs = strings(field(n, where, "inputs"), where + ".inputs");
  node.outputs = strings(field(n, where, "outputs"), where + ".outputs");
  if (n.contains("attrs")) {
    const json& attrs = object(n["attrs"], where + ".attrs");
    for (auto it = attrs.begin(); it != attrs.end(); ++it)
      node.attrs[it.key()] = attr(it.value(), where + ".attrs." + it.key());
  }
  return node;
}

Graph Reader::graph(const json& g, const std::string& where, const std::string& name) const {
  object(g, where);
  only_keys(g, where, {"inputs", "outputs", "parameters", "constants", "nodes", "activation_ranges"});
  Graph graph;
  graph.name = name;
  const json& inputs = array(field(g, where, "inputs"), where + ".inputs");
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string w = fmt::format("{}.inputs[{}]", where, i);
    object(inputs[i], w);
    only_keys(inputs[i], w, {"name", "dtype", "shape"});
    graph.inputs.push_back({string(field(inputs[i], w, "name"), w + ".name"),
                            {dtype(field(inputs[i], w, "dtype"), w + ".dtype"),
                             shape(field(inputs[i], w, "shape"), w + ".shape")}});
  }
  graph.outputs = strings(field(g, where, "outputs"), where + ".outputs");
  if (g.contains("parameters")) {
    const json& params = array(g["parameters"], where + ".parameters");
    for (size_t i = 0; i < params.size(); ++i) {
      std::string w = fmt::format("{}.parameters[{}]", where, i);
      if (params[i].is_string()) {
        graph.parameters.push_back({params[i], params[i]});
        continue;
      }
      object(params[i], w);
      only_keys(params[i], w, {"name", "weight"});
      std::string pname = string(field(params[i], w, "name"), w + ".name");
      graph.parameters.push_back(
          {pname, params[i].contains("weight") ? string(params[i]["weight"], w + ".weight") : pname});
    }
  }
  if (g.contains("constants")) {
    const json& consts = array(g["constants"], where + ".constants");
    for (size_t i = 0; i < consts.size(); ++i)
      graph.constants.push_back(constant(consts[i], fmt::format("{}.constants[{}]", where, i)));
  }
  const json& nodes = array(field(g, where, "nodes"), where + ".nodes");
  for (size_t i = 0; i < nodes.size(); ++i)
    graph.nodes.push_back(node(nodes[i], fmt::format("{}.nodes[{}]", where, i), i));
  if (g.contains("activation_ranges")) graph.activation_ranges = ranges(g["activation_ranges"], where + ".activation_ranges");
  return graph;
}

}  // namespace

GraphFile parse_graph_json(const std::string& text, const std::string& source) {
  json doc = parse_json_text(text, source);
  Reader r(source);
  r.object(doc, "top level");
  r.only_keys(doc, "top level", {"format", "version", "weights", "graphs", "description"});
  if (r.string(r.field(doc, "top level", "format"), "format") != "heed.graph")
    r.fail("format", "expected \"heed.graph\"");
  const json& version = r.field(doc, "top level", "version");
  if (!version.is_number_integer() || version.get<int64_t>() != kGraphFormatVersion)
    r.fail("version", fmt::format("unsupported version {} (this heed reads version {})",
                                  version.dump(), kGraphFormatVersion));
  GraphFile file;
  if (doc.contains("weights")) file.weights = r.string(doc["weights"], "weights");
  const json& graphs = r.object(r.field(doc, "top level", "graphs"), "graphs");
  if (graphs.empty()) r.fail("graphs", "a model needs at least one graph");
  for (auto it = graphs.begin(); it != graphs.end(); ++it)
    file.graphs[it.key()] = r.graph(it.value(), "graphs." + it.key(), it.key());
  return file;
}

namespace {

json shape_json(const SymShape& shape) {
  json dims = json::array();
  for (const Dim& d : shape) dims.push_back(d.is_known() ? json(d.value) : json(d.sym));
  return dims;
}

json constant_json(const Constant& c) {
  json data = json::array();
  for (int64_t i = 0; i < c.value.numel(); ++i) {
    switch (c.value.dtype()) {
      case DType::f32: data.push_back(c.value.data_as<float>()[i]); break;
      case DType::i32: data.push_back(c.value.data_as<int32_t>()[i]); break;
      case DType::i64: data.push_back(c.value.data_as<int64_t>()[i]); break;
      default: throw Error(fmt::format("constant '{}': {} constants have no JSON form", c.name, dtype_name(c.value.dtype())));
    }
  }
  return {{"name", c.name}, {"dtype", std::string(dtype_name(c.value.dtype()))}, {"shape", shape_json(to_sym(c.value.shape()))},
          {"data", data}};
}

json node_json(const Node& n) {
  json attrs = json::object();
  for (const auto& kv : n.attrs) std::visit([&](const auto& v) { attrs[kv.first] = v; }, kv.second);  // clang: no binding captures
  // Captured attention outputs are added at load, not part of the model.
  std::vector<std::string> outputs(n.outputs.begin(), n.outputs.end() - n.captured_outputs);
  return {{"name", n.name}, {"op", n.op}, {"inputs", n.inputs}, {"outputs", outputs}, {"attrs", attrs}};
}

json graph_json(const Graph& g) {
  json j = {{"inputs", json::array()}, {"outputs", g.outputs}, {"parameters", json::array()},
            {"constants", json::array()}, {"nodes", json::array()}};
  for (const GraphInput& in : g.inputs)
    j["inputs"].push_back({{"name", in.name}, {"dtype", std::string(dtype_name(in.type.dtype))}, {"shape", shape_json(in.type.shape)}});
  for (const Parameter& p : g.parameters)
    j["parameters"].push_back(p.name == p.weight ? json(p.name) : json{{"name", p.name}, {"weight", p.weight}});
  for (const Constant& c : g.constants) j["constants"].push_back(constant_json(c));
  for (const Node& n : g.nodes) j["nodes"].push_back(node_json(n));
  if (!g.activation_ranges.empty()) {
    json& r = j["activation_ranges"] = json::object();
    for (const auto& [value, range] : g.activation_ranges) r[value] = {range.first, range.second};
  }
  return j;
}

}  // namespace

std::string write_graph_json(const GraphFile& file) {
  json doc = {{"format", "heed.graph"}, {"version", kGraphFormatVersion}, {"graphs", json::object()}};
  if (!file.weights.empty()) doc["weights"] = file.weights;
  for (const auto& [name, g] : file.graphs) doc["graphs"][name] = graph_json(g);
  return doc.dump(1);
}

}  // namespace heed::ir
