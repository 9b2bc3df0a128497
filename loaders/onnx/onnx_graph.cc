#include "loaders/onnx/onnx_graph.h"

#include <heed/error.h>

#include <filesystem>

#include <fmt/format.h>

#include "engine/validate.h"
#include "loaders/onnx/onnx_attention.h"
#include "loaders/onnx/onnx_file.h"
#include "loaders/onnx/onnx_ops.h"
#include "loaders/onnx/onnx_rewrite.h"

namespace heed::onnx_import {

// ---- NodeContext ----

int64_t NodeContext::opset() const { return g_.opset_; }

void NodeContext::fail(const std::string& message) const {
  throw Error(fmt::format("{}: node '{}' ({}, opset {}): {}", g_.path_, label(), node_.op_type, g_.opset_, message));
}

// An unnamed node (ONNX allows it) is named by its first output given.
const std::string& NodeContext::label() const {
  if (!node_.name.empty()) return node_.name;
  for (const std::string& out : node_.output)
    if (!out.empty()) return out;
  return node_.name;
}

std::string NodeContext::input(size_t i) {
  if (!has_input(i)) return "";
  const std::string& name = input_name(i);
  if (auto d = g_.deferred_.find(name); d != g_.deferred_.end()) fail(d->second);
  if (auto k = g_.known_.find(name); k != g_.known_.end()) {
    if (g_.materialized_.insert(name).second) g_.weights_.add(name, k->second);
    return g_.builder_.param(name);
  }
  return g_.resolve(name);
}

const Tensor* NodeContext::known(size_t i) const {
  if (!has_input(i)) return nullptr;
  auto k = g_.known_.find(input_name(i));
  return k == g_.known_.end() ? nullptr : &k->second;
}

std::vector<int64_t> NodeContext::ints(size_t i) const {
  const Tensor* t = known(i);
  if (!t || (t->dtype() != DType::i64 && t->dtype() != DType::i32))
    fail(fmt::format("input {} '{}' must be an integer tensor known at load (a constant or shape arithmetic on "
                     "static shapes)", i, has_input(i) ? input_name(i) : ""));
  std::vector<int64_t> v(size_t(t->numel()));
  for (size_t k = 0; k < v.size(); ++k)
    v[k] = t->dtype() == DType::i64 ? t->data_as<int64_t>()[k] : t->data_as<int32_t>()[k];
  return v;
}

std::optional<ir::ValueType> NodeContext::type(size_t i) const {
  if (!has_input(i)) return std::nullopt;
  if (const Tensor* t = known(i)) return ir::type_of(*t);
  auto it = g_.types_.find(input_name(i));
  if (it == g_.types_.end()) it = g_.types_.find(g_.resolve(input_name(i)));  // an alias's (Identity, Einsum)
  if (it == g_.types_.end()) return std::nullopt;
  return it->second;
}

int NodeContext::rank(size_t i) const {
  auto t = type(i);
  if (!t) fail(fmt::format("the rank of input {} '{}' is unknown (ONNX shape inference gave none)", i,
                           has_input(i) ? input_name(i) : ""));
  return t->rank();
}

const AttributeProto* NodeContext::attr(const std::string& name) const {
  for (const AttributeProto& a : node_.attribute)
    if (a.name == name) return &a;
  return nullptr;
}

bool NodeContext::has_attr(const std::string& name) const { return attr(name) != nullptr; }

int64_t NodeContext::attr_int(const std::string& name, int64_t fallback) const {
  const AttributeProto* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttributeProto::kInt) fail(fmt::format("attribute '{}' must be an int", name));
  return a->i;
}

float NodeContext::attr_float(const std::string& name, float fallback) const {
  const AttributeProto* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttributeProto::kFloat) fail(fmt::format("attribute '{}' must be a float", name));
  return a->f;
}

std::vector<int64_t> NodeContext::attr_ints(const std::string& name, std::vector<int64_t> fallback) const {
  const AttributeProto* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttributeProto::kInts) fail(fmt::format("attribute '{}' must be a list of ints", name));
  return a->ints;
}

std::string NodeContext::attr_string(const std::string& name, std::string fallback) const {
  const AttributeProto* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttributeProto::kString) fail(fmt::format("attribute '{}' must be a string", name));
  return a->s;
}

std::string NodeContext::temp(const std::string& suffix) const {
  return fmt::format("{}/{}", label(), suffix);
}

void NodeContext::emit(const std::string& op, std::vector<std::string> inputs,
                       std::map<std::string, ir::AttrValue> attrs, std::vector<std::string> outputs) {
  if (outputs.empty()) outputs = node_.output;
  const std::string& base = label();
  std::string name = emitted_++ ? fmt::format("{}#{}", base, emitted_) : base;
  std::vector<const ir::ValueType*> types;
  std::vector<ir::ValueType> param_types;
  param_types.reserve(inputs.size());
  for (const std::string& in : inputs) {
    if (in.empty()) {
      types.push_back(nullptr);
    } else if (auto t = g_.types_.find(in); t != g_.types_.end()) {
      types.push_back(&t->second);
    } else {  // a weight (a known value of this translation's own made one on first use)
      if (auto k = g_.known_.find(in); k != g_.known_.end() && g_.materialized_.insert(in).second) {
        g_.weights_.add(in, k->second);
        g_.builder_.param(in);
      }
      const Tensor* w = g_.weights_.find(in);
      if (!w) fail(fmt::format("value '{}' has no type (an op heed computes it with was not imported)", in));
      param_types.push_back(ir::type_of(*w));
      types.push_back(&param_types.back());
    }
  }
  g_.builder_.node(name, op, std::move(inputs), std::move(attrs));
  ir::Node& n = g_.builder_.last();
  n.outputs = std::move(outputs);
  // Typed as it is built: later nodes' translations (ranks, static shapes) read these.
  static const ir::Graph where{.name = "main"};
  std::vector<ir::ValueType> out;
  try {
    out = ir::infer_node(where, n, types);
  } catch (const Error& e) {
    fail(e.what());
  }
  // Shape arithmetic whose every element the shape rules know (x.size(-1) of a
  // static dim) is a constant: later nodes fold with it, and this one goes.
  std::vector<Tensor> values;
  for (size_t i = 0; i < out.size(); ++i)
    if (auto t = g_.constant_of(out[i], n.outputs[i])) values.push_back(std::move(*t));
  if (values.size() == out.size()) {
    for (size_t i = 0; i < out.size(); ++i) g_.known_[n.outputs[i]] = std::move(values[i]);
    g_.builder_.drop_last();
    return;
  }
  for (size_t i = 0; i < out.size(); ++i) g_.types_[n.outputs[i]] = g_.named_unknowns(std::move(out[i]));
}

ir::ValueType OnnxGraph::named_unknowns(ir::ValueType t) {
  for (ir::Dim& d : t.shape) {
    if (d.is_known() || !d.sym.empty()) continue;
    std::string name;
    do name = fmt::format("?{}", ++unknown_dims_);
    while (input_dims_.count(name));  // a graph input may name a dim "?1" itself
    d = ir::Dim::symbol(name);
  }
  return t;
}

std::string NodeContext::weight(const std::string& name, Tensor t) {
  g_.weights_.add(name, std::move(t));
  g_.materialized_.insert(name);
  return g_.builder_.param(name);
}

void NodeContext::set_known(size_t output, Tensor t) { g_.known_[output_name(output)] = std::move(t); }

void NodeContext::alias(size_t output, const std::string& value) { g_.alias_[output_name(output)] = value; }

// ---- OnnxGraph ----

std::optional<Tensor> OnnxGraph::constant_of(const ir::ValueType& t, const std::string& value) const {
  if (!t.elements || !ir::all_known(t.shape)) return std::nullopt;
  for (const ValueInfoProto& out : model_.graph.output)
    if (out.name == value) return std::nullopt;
  for (const ir::Element& e : *t.elements)
    if (!e.known) return std::nullopt;
  Tensor c = Tensor::empty(t.dtype, ir::to_shape(t.shape));
  for (size_t i = 0; i < t.elements->size(); ++i) {
    int64_t v = (*t.elements)[i].value;
    if (t.dtype == DType::i64) c.data_as<int64_t>()[i] = v;
    else if (t.dtype == DType::i32) c.data_as<int32_t>()[i] = int32_t(v);
    else c.data_as<uint8_t>()[i] = uint8_t(v != 0);
  }
  return c;
}

OnnxGraph::OnnxGraph(std::string path, ModelProto& model, WeightStore& weights)
    : path_(std::move(path)), model_(model), weights_(weights) {
  dir_ = std::filesystem::path(path_).parent_path().string();
  try {
    opset_ = onnx_opset(model_);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path_, e.what()));
  }
}

std::string OnnxGraph::resolve(const std::string& value) const {
  auto it = alias_.find(value);
  return it == alias_.end() ? value : resolve(it->second);
}

const NodeProto* OnnxGraph::sole_consumer(const std::string& value, int* index) const {
  auto it = consumers_.find(value);
  if (it == consumers_.end() || it->second.size() != 1) return nullptr;
  for (const ValueInfoProto& out : model_.graph.output)
    if (out.name == value) return nullptr;
  if (index) *index = it->second[0];
  return &model_.graph.node[size_t(it->second[0])];
}

static ir::ValueType value_type(const ValueInfoProto& v, const std::string& where) {
  if (!v.is_tensor) throw Error(fmt::format("{}: not a tensor (sequences and maps are not imported)", where));
  ir::ValueType t{dtype_from_onnx(v.elem_type, where), {}};
  if (!v.has_shape) throw Error(fmt::format("{}: no shape (not even a rank)", where));
  if (v.dims.size() > size_t(Shape::kMaxRank))
    throw Error(fmt::format("{}: rank {} is above {}", where, v.dims.size(), Shape::kMaxRank));
  for (const Dimension& d : v.dims)
    t.shape.push_back(d.has_value && d.value >= 0 ? ir::Dim::known(d.value)
                      : !d.param.empty()          ? ir::Dim::symbol(d.param)
                                                  : ir::Dim{});
  return t;
}

void OnnxGraph::read_inputs_and_initializers() {
  const GraphProto& g = model_.graph;
  for (const TensorProto& t : g.initializer)
    known_[t.name] = tensor_from_proto(t, dir_, fmt::format("{}: initializer '{}'", path_, t.name), model_.mapping);
  weights_.add_mapping(model_.mapping);  // its pages leave memory once the kernels have packed the weights
  for (const ValueInfoProto& in : g.input) {
    if (known_.count(in.name)) continue;  // an initializer listed as an input too (IR version < 4)
    ir::ValueType type = value_type(in, fmt::format("{}: graph input '{}'", path_, in.name));
    for (size_t i = 0; i < type.shape.size(); ++i)  // an unnamed dynamic dim gets a name of its own
      if (!type.shape[i].is_known() && type.shape[i].sym.empty())
        type.shape[i] = ir::Dim::symbol(fmt::format("{}_dim{}", in.name, i));
    for (const ir::Dim& d : type.shape) input_dims_.insert(d.sym);
    builder_.input(in.name, type.dtype, type.shape);
    types_[in.name] = type;
  }
  for (int i = 0; i < int(g.node.size()); ++i) {
    for (const std::string& in : g.node[i].input)
      if (!in.empty()) consumers_[in].push_back(i);
    for (const std::string& out : g.node[i].output) producers_.emplace(out, i);
  }
}

void OnnxGraph::translate(int index) {
  const NodeProto& n = model_.graph.node[size_t(index)];
  current_ = index;
  NodeContext c(*this, n);
  if (fused_.count(index)) return;
  size_t present = 0;
  for (size_t i = 0; i < c.inputs(); ++i) present += c.has_input(i);
  if (c.inputs() < min_inputs(n.op_type) || (c.inputs() > 0 && !c.has_input(0)))
    c.fail(fmt::format("{} inputs given, ONNX's {} takes at least {}", present, n.op_type, min_inputs(n.op_type)));
  // Output 0 may be left out only where ONNX makes it optional (a recurrent op's Y).
  const bool optional_first = n.op_type == "LSTM" || n.op_type == "GRU";
  if (n.output.empty() || (n.output[0].empty() && (!optional_first || c.label().empty()))) c.fail("no output");
  if (fold(c) || fuse(c)) return;
  const Translator* t = find_translator(n.op_type);
  if (!t) c.fail("heed does not import this op (docs/onnx.md lists the ones it does)");
  (*t)(c);
}

// The types of `graph`'s values by heed's shape rules, unknown dims named: after
// a fusion, rules of the fused ops know more than the ONNX nodes' did (the
// context of a ScaledDotProductAttention has the queries' length, where an
// exported mask's broadcast with the scores lost it). None when the rules refuse
// the graph: it is left unfused, and the model's validation names the fault.
std::optional<std::map<std::string, ir::ValueType>> OnnxGraph::fused_types(const ir::Graph& graph) {
  std::map<std::string, ir::ValueType> inputs;
  for (const ir::GraphInput& in : graph.inputs) inputs[in.name] = in.type;
  try {
    return ir::infer_types(graph, [&](const std::string& w) { return weights_.find(w); }, inputs,
                           [&](ir::ValueType& t) { t = named_unknowns(std::move(t)); });
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ir::Graph OnnxGraph::import() {
  read_inputs_and_initializers();
  const GraphProto& g = model_.graph;
  // Constants first (they read nothing), so fusions looking ahead see the scalars of later nodes.
  for (int i = 0; i < int(g.node.size()); ++i)
    if (g.node[size_t(i)].op_type == "Constant") {
      translate(i);
      fused_.insert(i);
    }
  // ONNX requires nodes in topological order; one that reads a value defined later is refused by name.
  std::set<std::string> defined;
  for (const auto& [name, t] : known_) defined.insert(name);
  for (const ValueInfoProto& in : g.input) defined.insert(in.name);
  for (int i = 0; i < int(g.node.size()); ++i) {
    for (const std::string& in : g.node[i].input)
      if (!in.empty() && !defined.count(in))
        throw Error(fmt::format("{}: node '{}' ({}) reads '{}', which no earlier node, input or initializer "
                                "defines (a cycle, or nodes out of order)", path_, g.node[i].name,
                                g.node[i].op_type, in));
    for (const std::string& out : g.node[i].output) defined.insert(out);
    translate(i);
  }
  for (const ValueInfoProto& out : g.output) {
    if (auto d = deferred_.find(out.name); d != deferred_.end())
      throw Error(fmt::format("{}: graph output '{}': {}", path_, out.name, d->second));
    std::string value = resolve(out.name);
    DType dtype = types_.count(out.name) ? types_[out.name].dtype : DType::f32;
    if (auto k = known_.find(out.name); k != known_.end()) {  // a constant output: a copy of a weight
      dtype = k->second.dtype();
      std::string weight = "constant_output/" + out.name;
      weights_.add(weight, k->second);
      value = builder_.param(weight);
    }
    // An output that is another value (Identity, Dropout) or a weight is a copy of it (a node named
    // apart from the nodes its ONNX node became, which may carry the output's name).
    if (value != out.name) {
      builder_.node(out.name + "/copy", "Cast", {value}, {{"to", std::string(dtype_name(dtype))}});
      builder_.last().outputs = {out.name};
    }
    builder_.output(out.name);
  }
  // Unread nodes go before fusing too: a fusion takes only values its pattern alone reads.
  ir::Graph graph = without_unread_nodes(builder_.take());
  fuse_attention(graph, weights_, types_);
  auto types = fused_types(graph);
  if (types && move_dim_reads(graph, weights_, *types) > 0) {
    graph = without_unread_nodes(std::move(graph));
    types = fused_types(graph);  // the moved reads' new values
  }
  if (types) fuse_multi_head_attention(graph, weights_, *types);
  return without_unread_nodes(std::move(graph));
}

}  // namespace heed::onnx_import
