#include "engine/compiled_graph.h"

#include <heed/error.h>

#include <fmt/format.h>

#include <algorithm>

#include "engine/op_def.h"
#include "engine/quantized_values.h"
#include "engine/validate.h"

namespace heed {

int CompiledGraph::add_value(ValueSlot slot) {
  int id = int(values_.size());
  ids_[slot.name] = id;
  values_.push_back(std::move(slot));
  return id;
}

CompiledGraph::CompiledGraph(ir::Graph graph, const std::map<std::string, ir::ValueType>& types,
                             WeightStore& weights, const Backend& backend, DType gemm_dtype, ConstantUses* uses,
                             Precision precision)
    : graph_(std::move(graph)), weights_(weights), backend_(backend), precision_(precision) {
  for (const ir::GraphInput& in : graph_.inputs)
    input_ids_.push_back(add_value({in.name, ValueSlot::Kind::input, nullptr, false, in.type}));
  for (const ir::Parameter& p : graph_.parameters)
    add_value({p.name, ValueSlot::Kind::constant, weights.find(p.weight), false, types.at(p.name), p.weight});
  for (const ir::Constant& c : graph_.constants)
    add_value({c.name, ValueSlot::Kind::constant, &c.value, false, types.at(c.name)});
  for (const ir::Node& n : graph_.nodes)
    for (const std::string& out : n.outputs)
      add_value({out, ValueSlot::Kind::node_output, nullptr, false, types.at(out)});
  for (const std::string& out : graph_.outputs) {
    output_ids_.push_back(ids_.at(out));
    values_[ids_.at(out)].is_graph_output = true;
  }
  upload_constants();
  for (int id : output_ids_) materialize(id);  // a weight returned as it is
  // Kernels that pack a constant read it from the file's mapping: its pages leave
  // memory every so often, so that the file and the packed copies are never both
  // resident whole (the pages read again later fault back in).
  constexpr size_t kReleaseEvery = size_t(64) << 20;
  size_t read_since_release = 0;
  for (const ir::Node& n : graph_.nodes) {
    for (int i : ir::find_op(n.op)->mutated_inputs)
      if (size_t(i) < n.inputs.size() && !n.inputs[size_t(i)].empty()) mutated_input_ids_.push_back(ids_.at(n.inputs[size_t(i)]));
    if (!backend.supports(n.op))
      throw Error(fmt::format("graph '{}': {}: the {} backend has no kernel for this op", graph_.name,
                              n.where(), backend.name()));
    CompiledNode cn;
    KernelInit init = kernel_init(n, cn, gemm_dtype);
    cn.is_view = ir::find_op(n.op)->output_is_view;
    try {
      cn.kernel = backend.make_kernel(init);
    } catch (const Error& e) {
      throw Error(fmt::format("graph '{}': {}", graph_.name, e.what()));
    }
    for (const Tensor* c : init.constants) read_since_release += c ? c->nbytes() : 0;
    if (uses) uses->kernel_made(init, *cn.kernel);
    if (read_since_release > kReleaseEvery) {
      weights.release_mapped_pages();
      read_since_release = 0;
    }
    nodes_.push_back(std::move(cn));
  }
}

// The stored form of value `id` when it names a stored weight (else null).
const StoredWeight* CompiledGraph::stored(int id) const {
  const ValueSlot& v = values_[size_t(id)];
  return v.weight.empty() ? nullptr : weights_.stored(v.weight);
}

// Value `id`'s f32 values, made now if it is a stored weight that has none yet.
void CompiledGraph::materialize(int id) {
  const ValueSlot& v = values_[size_t(id)];
  if (!stored(id)) return;
  weights_.materialize(v.weight);
  if (backend_.device() == Device::cpu) constant_ptrs_[size_t(id)] = v.constant->data();  // others: copied at load
}

// The node's value ids into `cn`, and what its kernel is made from. A weight a
// quantized file stores comes with its stored form; it gets its f32 values now
// unless the kernel packs the stored form as it is (Backend::packs_stored), and
// those leave memory with the other packed weights unless something reads them.
KernelInit CompiledGraph::kernel_init(const ir::Node& n, CompiledNode& cn, DType gemm_dtype) {
  cn.node = &n;
  KernelInit init{n, {}, {}, gemm_dtype, precision_};
  for (const std::string& in : n.inputs) {
    int id = in.empty() ? -1 : ids_.at(in);
    cn.in_ids.push_back(id);
    init.input_types.push_back(id < 0 ? ir::ValueType{} : values_[id].type);
    init.constants.push_back(id < 0 ? nullptr : values_[id].constant);
    init.stored.push_back(id < 0 ? nullptr : stored(id));
  }
  for (size_t i = 0; i < cn.in_ids.size(); ++i)
    if (init.stored[i] && !backend_.packs_stored(init, i))
      materialize(cn.in_ids[i]);
  for (const std::string& out : n.outputs) cn.out_ids.push_back(ids_.at(out));
  return init;
}

void CompiledGraph::forget_constants_not_in(const std::set<const Tensor*>& read) {
  for (size_t v = 0; v < values_.size(); ++v)
    if (values_[v].constant && !values_[v].is_graph_output && !read.count(values_[v].constant) &&
        backend_.device() == Device::cpu)
      constant_ptrs_[v] = nullptr;
}

void CompiledGraph::upload_constants() {
  constant_ptrs_.assign(values_.size(), nullptr);
  for (size_t v = 0; v < values_.size(); ++v) {
    const Tensor* c = values_[v].constant;
    if (!c) continue;
    constant_ptrs_[v] = c->data();
    if (backend_.device() == Device::cpu || !c->nbytes()) continue;
    device_constants_.emplace_back(backend_, c->nbytes());
    backend_.copy_in(device_constants_.back().get(), c->data(), c->nbytes());
    constant_ptrs_[v] = device_constants_.back().get();
  }
  backend_.synchronize();
}

namespace {

// Views alias their input unless they produce a graph output (which the caller owns).
std::vector<int> view_aliases(const CompiledGraph& g) {
  std::vector<int> alias(g.values().size(), -1);
  for (const CompiledNode& n : g.nodes())
    if (n.is_view && !g.values()[n.out_ids[0]].is_graph_output) alias[n.out_ids[0]] = n.in_ids[0];
  return alias;
}

int root_of(const std::vector<int>& alias, int v) {
  while (alias[v] >= 0) v = alias[v];
  return v;
}

// An output written over an input the backend's kernel may overwrite (a conv's
// residual), where that input's data is read by no later node (through views
// either), lives in the arena, and has the output's size and layout.
void add_overwrite_aliases(const CompiledGraph& g, const ShapePlan& plan, std::vector<int>& alias) {
  const std::vector<ValueSlot>& values = g.values();
  const std::vector<int> views = alias;
  std::vector<int> last_read(values.size(), -1);  // of the value's data, views included
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (int id : g.nodes()[i].in_ids)
      for (int u = id; u >= 0; u = views[size_t(u)]) last_read[size_t(u)] = int(i);
  auto in_arena = [&](int v) {
    const ValueSlot& slot = values[size_t(v)];
    return slot.kind == ValueSlot::Kind::node_output && !slot.is_graph_output;
  };
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const CompiledNode& n = g.nodes()[i];
    int k = g.backend().writes_over_input(n.node->op);
    if (k < 0 || size_t(k) >= n.in_ids.size() || n.in_ids[size_t(k)] < 0) continue;
    int in = n.in_ids[size_t(k)], out = n.out_ids[0];
    const TensorDesc &a = plan.values[size_t(in)], &b = plan.values[size_t(out)];
    // u8 and i8 (quantized values) share bytes: a convolution adds an i8 residual into its u8 output.
    const bool same_bytes = a.dtype == b.dtype || (a.scale > 0.f && b.scale > 0.f && dtype_size(a.dtype) == 1 &&
                                                   dtype_size(b.dtype) == 1);
    if (!in_arena(out) || !in_arena(root_of(alias, in)) || last_read[size_t(root_of(views, in))] != int(i) ||
        !same_bytes || a.shape != b.shape || a.channel_block != b.channel_block)
      continue;
    bool read_twice = false;  // also another input of this node: overwriting it would change what it reads
    for (size_t j = 0; j < n.in_ids.size(); ++j)
      read_twice |= j != size_t(k) && n.in_ids[j] >= 0 && root_of(views, n.in_ids[j]) == root_of(views, in);
    if (!read_twice) alias[size_t(out)] = in;
  }
}

}  // namespace

// A rank-4 intermediate stays in the backend's blocked layout when its producer
// writes it and every reader takes it so: reorders happen only at the edges.
void CompiledGraph::choose_layouts(ShapePlan& plan) const {
  int block = backend_.channel_block(precision_);
  if (!block) return;
  std::vector<int> producer(values_.size(), -1);
  std::vector<bool> ok(values_.size(), true);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (int id : nodes_[i].out_ids) producer[size_t(id)] = int(i);
    for (size_t k = 0; k < nodes_[i].in_ids.size(); ++k) {
      int id = nodes_[i].in_ids[k];
      if (id >= 0 && !backend_.takes_blocked(nodes_[i].node->op, k)) ok[size_t(id)] = false;
    }
  }
  for (size_t v = 0; v < values_.size(); ++v)
    if (ok[v] && producer[v] >= 0 && !values_[v].is_graph_output && plan.values[v].shape.rank() == 4 &&
        backend_.makes_blocked(nodes_[size_t(producer[v])].node->op))
      plan.values[v].channel_block = block;
  for (bool changed = true; changed;) {  // layout-keeping ops: both sides blocked, or neither
    changed = false;
    for (const CompiledNode& n : nodes_) {
      if (!backend_.keeps_layout(n.node->op) || n.in_ids[0] < 0) continue;
      TensorDesc &in = plan.values[size_t(n.in_ids[0])], &out = plan.values[size_t(n.out_ids[0])];
      if (in.channel_block != out.channel_block) {
        in.channel_block = out.channel_block = 0;
        changed = true;
      }
    }
  }
}

// Why a value's shape is still unknown with every input shape known: it
// depends on tensor values (a Reshape to a shape read from an input).
std::string CompiledGraph::unresolved(const std::string& value, const ir::ValueType& t) const {
  for (const ir::Node& n : graph_.nodes)
    if (std::find(n.outputs.begin(), n.outputs.end(), value) != n.outputs.end())
      return fmt::format("{}: the shape of output '{}' is {} with every input shape known: it depends on the "
                         "values of a tensor, not only on shapes, and heed plans shapes before it runs",
                         n.where(), value, ir::shape_str(t.shape));
  return fmt::format("value '{}' has unresolved shape {}", value, ir::shape_str(t.shape));
}

std::shared_ptr<const ShapePlan> CompiledGraph::plan_for(const std::vector<Shape>& input_shapes) const {
  std::vector<int64_t> key;
  for (const Shape& s : input_shapes) {
    key.push_back(s.rank());
    key.insert(key.end(), s.begin(), s.end());
  }
  std::lock_guard lock(plans_mutex_);
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;

  std::map<std::string, ir::ValueType> in_types;
  for (size_t i = 0; i < input_ids_.size(); ++i)
    in_types[values_[input_ids_[i]].name] = {values_[input_ids_[i]].type.dtype, ir::to_sym(input_shapes[i])};
  std::map<std::string, ir::ValueType> types;
  try {
    types = ir::infer_types(graph_, [&](const std::string& w) { return weights_.find(w); }, in_types);
  } catch (const Error& e) {
    throw Error(fmt::format("graph '{}': {}", graph_.name, e.what()));
  }

  auto plan = std::make_shared<ShapePlan>();
  for (const ValueSlot& v : values_) {
    const ir::ValueType& t = types.at(v.name);
    if (!ir::all_known(t.shape)) throw Error(fmt::format("graph '{}': {}", graph_.name, unresolved(v.name, t)));
    TensorDesc desc{t.dtype, ir::to_shape(t.shape), true};
    if (t.elements && std::all_of(t.elements->begin(), t.elements->end(), [](const ir::Element& e) { return e.known; }))
      for (const ir::Element& e : *t.elements) desc.elements.push_back(e.value);
    plan->values.push_back(std::move(desc));
  }
  choose_layouts(*plan);
  if (precision_ == Precision::int8) choose_quantized_values(*this, *plan);
  for (const CompiledNode& n : nodes_) {
    NodeShapes s;
    for (int id : n.in_ids) s.in.push_back(id < 0 ? TensorDesc{DType::f32, {}, false} : plan->values[id]);
    for (int id : n.out_ids) s.out.push_back(plan->values[id]);
    plan->nodes.push_back(std::move(s));
  }

  plan->alias_of = view_aliases(*this);
  add_overwrite_aliases(*this, *plan, plan->alias_of);
  std::vector<int> first(values_.size(), -1), last(values_.size(), -1);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (int id : nodes_[i].out_ids) first[id] = int(i);
    for (int id : nodes_[i].in_ids)
      if (id >= 0) last[root_of(plan->alias_of, id)] = int(i);
  }
  std::vector<Lifetime> lives;
  for (size_t v = 0; v < values_.size(); ++v)
    if (values_[v].kind == ValueSlot::Kind::node_output && !values_[v].is_graph_output &&
        plan->alias_of[v] < 0)
      lives.push_back({int(v), plan->values[v].nbytes(), first[v], std::max(first[v], last[v])});
  std::vector<int64_t> offsets = assign_offsets(lives, &plan->arena_bytes);
  plan->offset.assign(values_.size(), -1);
  for (size_t i = 0; i < lives.size(); ++i) plan->offset[lives[i].value] = offsets[i];

  plans_[key] = plan;
  return plan;
}

}  // namespace heed
