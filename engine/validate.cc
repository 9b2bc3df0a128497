#include "engine/validate.h"

#include <heed/error.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "engine/checked.h"
#include "engine/op_def.h"

namespace heed::ir {
namespace {

[[noreturn]] void fail(const Graph& g, const std::string& what) {
  throw Error(fmt::format("graph '{}': {}", g.name, what));
}

std::string attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::Int: return "an integer";
    case AttrType::Float: return "a number";
    case AttrType::String: return "a string";
    case AttrType::Ints: return "an array of integers";
    case AttrType::Floats: return "an array of numbers";
    case AttrType::Bool: return "a bool";
  }
  return "?";
}

// Converts a parsed value to the declared type where that loses nothing.
bool coerce(AttrValue& v, AttrType t) {
  switch (t) {
    case AttrType::Int: return std::holds_alternative<int64_t>(v);
    case AttrType::Bool:
      return std::holds_alternative<int64_t>(v) && (std::get<int64_t>(v) == 0 || std::get<int64_t>(v) == 1);
    case AttrType::Float:
      if (auto* i = std::get_if<int64_t>(&v)) v = double(*i);
      return std::holds_alternative<double>(v);
    case AttrType::String: return std::holds_alternative<std::string>(v);
    case AttrType::Ints: return std::holds_alternative<std::vector<int64_t>>(v);
    case AttrType::Floats:
      if (auto* i = std::get_if<std::vector<int64_t>>(&v)) v = std::vector<double>(i->begin(), i->end());
      return std::holds_alternative<std::vector<double>>(v);
  }
  return false;
}

void check_node(const Graph& g, Node& n) {
  const OpDef* def = find_op(n.op);
  if (!def) fail(g, fmt::format("{}: unknown op '{}'", n.where(), n.op));
  int ni = int(n.inputs.size()), no = int(n.outputs.size());
  if (ni < def->min_inputs || ni > def->max_inputs)
    fail(g, fmt::format("{}: takes {}{} inputs, got {}", n.where(), def->min_inputs,
                        def->max_inputs > def->min_inputs ? fmt::format("..{}", def->max_inputs) : "", ni));
  if (no < def->min_outputs || no > def->max_outputs)
    fail(g, fmt::format("{}: has {}{} outputs, got {}", n.where(), def->min_outputs,
                        def->max_outputs > def->min_outputs ? fmt::format("..{}", def->max_outputs) : "", no));
  for (const auto& [key, value] : n.attrs) {
    bool known = false;
    for (const AttrSpec& s : def->attrs) known |= s.name == key;
    if (!known) fail(g, fmt::format("{}: unknown attribute '{}'", n.where(), key));
  }
  for (const AttrSpec& s : def->attrs) {
    auto it = n.attrs.find(s.name);
    bool by_input = s.given_by_input >= 0 && n.has_input(size_t(s.given_by_input));
    if (by_input && it != n.attrs.end())
      fail(g, fmt::format("{}: attribute '{}' and input {} give the same thing; give one", n.where(), s.name,
                          s.given_by_input));
    if (it == n.attrs.end()) {
      if (by_input) continue;
      if (!s.default_value) fail(g, fmt::format("{}: missing attribute '{}'", n.where(), s.name));
      n.attrs[s.name] = *s.default_value;
      continue;
    }
    if (!coerce(it->second, s.type))
      fail(g, fmt::format("{}: attribute '{}' must be {}", n.where(), s.name, attr_type_name(s.type)));
    if (!s.choices.empty()) {
      const std::string& v = std::get<std::string>(it->second);
      if (std::find(s.choices.begin(), s.choices.end(), v) == s.choices.end())
        fail(g, fmt::format("{}: attribute '{}' is '{}', expected one of: {}", n.where(), s.name, v,
                            fmt::join(s.choices, ", ")));
    }
  }
}

// Kahn's algorithm over value dependencies; reports undefined values and cycles.
void sort_nodes(Graph& g, const std::set<std::string>& sources) {
  std::map<std::string, size_t> producer;
  std::set<std::string> node_names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!node_names.insert(g.nodes[i].name).second)
      fail(g, fmt::format("two nodes are named '{}'", g.nodes[i].name));
    for (const std::string& out : g.nodes[i].outputs) {
      if (out.empty()) fail(g, fmt::format("{}: an output name is empty", g.nodes[i].where()));
      if (sources.count(out) || producer.count(out))
        fail(g, fmt::format("{}: value '{}' is defined twice", g.nodes[i].where(), out));
      producer[out] = i;
    }
  }
  std::vector<int> pending(g.nodes.size(), 0);
  std::vector<std::vector<size_t>> users(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const std::string& in : g.nodes[i].inputs) {
      if (in.empty() || sources.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        fail(g, fmt::format("{}: input '{}' is not defined (not a graph input, parameter, constant "
                            "or node output)", g.nodes[i].where(), in));
      ++pending[i];
      users[it->second].push_back(i);
    }
  std::vector<size_t> order, ready;
  for (size_t i = g.nodes.size(); i-- > 0;)
    if (!pending[i]) ready.push_back(i);
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push_back(u);
  }
  if (order.size() != g.nodes.size()) {
    std::vector<std::string> stuck;
    size_t count = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (pending[i] && count++ < 8) stuck.push_back(g.nodes[i].name);
    fail(g, fmt::format("the nodes {}{} form a cycle or depend on one", fmt::join(stuck, ", "),
                        count > stuck.size() ? fmt::format(" (and {} more)", count - stuck.size()) : ""));
  }
  std::vector<Node> sorted;
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
}

std::set<std::string> source_names(const Graph& g) {
  std::set<std::string> names;
  auto add = [&](const std::string& name, const char* kind) {
    if (name.empty()) fail(g, fmt::format("a {} has an empty name", kind));
    if (!names.insert(name).second) fail(g, fmt::format("value '{}' is defined twice", name));
  };
  for (const GraphInput& in : g.inputs) add(in.name, "graph input");
  for (const Parameter& p : g.parameters) add(p.name, "parameter");
  for (const Constant& c : g.constants) add(c.name, "constant");
  return names;
}

// The one check that keeps every shape rule's arithmetic honest: an output's
// known dims are non-negative and its size fits kMaxTensorBytes (a rule fed
// huge attributes fails here, naming its node, before anything is allocated).
void check_size(const InferContext& ctx, const ValueType& t, const std::string& value) {
  if (t.rank() > Shape::kMaxRank)
    ctx.fail(fmt::format("output '{}' would have rank {}, beyond heed's maximum {}", value, t.rank(), Shape::kMaxRank));
  std::vector<int64_t> known;
  for (const Dim& d : t.shape) {
    if (d.is_known()) known.push_back(d.value);
    else if (d.value != -1) ctx.fail(fmt::format("output '{}' has an invalid dim {}", value, d.str()));
  }
  if (!checked_bytes(known, dtype_size(t.dtype)))
    ctx.fail(fmt::format("output '{}' of shape {} would exceed heed's {} TiB tensor limit", value,
                         shape_str(t.shape), kMaxTensorBytes >> 40));
}

}  // namespace

std::vector<ValueType> infer_node(const Graph& g, Node& n, const std::vector<const ValueType*>& inputs) {
  check_node(g, n);
  InferContext ctx(n, inputs);
  find_op(n.op)->infer(ctx);
  std::vector<ValueType>& out = ctx.outputs();
  for (size_t i = 0; i < n.outputs.size(); ++i) check_size(ctx, out[i], n.outputs[i]);
  return std::move(out);
}

std::map<std::string, ValueType> infer_types(const Graph& g, const WeightLookup& weights,
                                             const std::map<std::string, ValueType>& input_types,
                                             const std::function<void(ValueType&)>& refine) {
  std::map<std::string, ValueType> types = input_types;
  for (const Parameter& p : g.parameters) {
    const Tensor* w = weights(p.weight);
    types[p.name] = type_of(*w);
  }
  for (const Constant& c : g.constants) types[c.name] = type_of(c.value);
  for (const Node& n : g.nodes) {
    std::vector<const ValueType*> ins;
    for (const std::string& name : n.inputs) ins.push_back(name.empty() ? nullptr : &types.at(name));
    InferContext ctx(n, std::move(ins));
    find_op(n.op)->infer(ctx);
    std::vector<ValueType>& out = ctx.outputs();
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      check_size(ctx, out[i], n.outputs[i]);
      if (refine) refine(out[i]);
      types[n.outputs[i]] = std::move(out[i]);
    }
  }
  return types;
}

std::map<std::string, ValueType> validate_graph(Graph& g, const WeightLookup& weights,
                                                const std::string& weights_source) {
  std::set<std::string> sources = source_names(g);
  for (const Parameter& p : g.parameters)
    if (!weights(p.weight))
      fail(g, fmt::format("parameter '{}' needs weight '{}', which {} does not hold", p.name,
                          p.weight, weights_source.empty() ? "the model" : weights_source));
  if (g.outputs.empty()) fail(g, "declares no outputs");
  for (Node& n : g.nodes) check_node(g, n);
  sort_nodes(g, sources);
  for (const Node& n : g.nodes)
    for (int i : find_op(n.op)->mutated_inputs) {
      if (!n.has_input(size_t(i))) continue;
      bool is_input = false;
      for (const GraphInput& in : g.inputs) is_input |= in.name == n.inputs[size_t(i)];
      if (!is_input)
        fail(g, fmt::format("{}: input {} '{}' is updated in place, so it must be a graph input", n.where(), i,
                            n.inputs[size_t(i)]));
    }
  std::map<std::string, ValueType> inputs;
  for (const GraphInput& in : g.inputs) inputs[in.name] = in.type;
  std::map<std::string, ValueType> types;
  try {
    types = infer_types(g, weights, inputs);
  } catch (const Error& e) {
    fail(g, e.what());
  }
  for (const std::string& out : g.outputs)
    if (!types.count(out)) fail(g, fmt::format("output '{}' is not defined", out));
  for (const auto& [value, range] : g.activation_ranges) {
    auto t = types.find(value);
    if (t == types.end()) fail(g, fmt::format("activation_ranges: '{}' is not a value of the graph", value));
    if (t->second.dtype != DType::f32)
      fail(g, fmt::format("activation_ranges: '{}' is {}, and only f32 values are quantized", value,
                          dtype_name(t->second.dtype)));
  }
  return types;
}

}  // namespace heed::ir
