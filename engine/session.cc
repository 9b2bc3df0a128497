#include <heed/model.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "engine/model_impl.h"

namespace heed::detail {

using Clock = std::chrono::steady_clock;

// One session's state for one input signature: the arena, the prepared
// invocations and the value pointer table. Built once, reused by every run.
struct SymbolLink {
  int input_a, dim_a, input_b, dim_b;
};
std::vector<SymbolLink> symbol_links(const ir::Graph& g);

struct BoundPlan {
  std::vector<Shape> input_shapes;
  std::shared_ptr<const ShapePlan> plan;
  BackendBuffer arena;
  // A device backend's copies of the graph inputs and outputs (empty on the CPU,
  // whose kernels use the caller's tensors directly).
  std::vector<BackendBuffer> staged;  // by value id
  std::vector<std::unique_ptr<Invocation>> invocations;
  std::vector<void*> ptrs;
  std::vector<int> profile_rows;
  uint64_t last_used = 0;
};

// Bound plans kept per session: each holds an arena and prepared kernels for one
// input signature, so a session fed ever-new shapes (sentences of every length)
// keeps the most recently used few instead of growing without bound.
constexpr size_t kMaxBoundPlans = 6;

class SessionImpl {
 public:
  SessionImpl(std::shared_ptr<const ModelImpl> model, const SessionOptions& o)
      : model_(std::move(model)),
        graph_(model_->graph(o.graph)),
        threads_(o.threads > 0 ? o.threads : graph_.backend().default_threads()),
        profiling_(o.profile),
        epoch_(Clock::now()),
        links_(symbol_links(graph_.graph())),
        input_shapes_(graph_.graph().inputs.size()) {}

  void run(const TensorMap& inputs, TensorMap& outputs);
  Profile profile() const { return profile_; }
  void reset_profile() {
    profile_ = Profile{};
    profiled_signatures_.clear();
    for (auto& b : bound_) b->profile_rows.clear();
  }

 private:
  void check_inputs(const TensorMap& inputs);
  BoundPlan& bind(const std::vector<Shape>& shapes);
  void execute(BoundPlan& b);
  void copy_back(BoundPlan& b, const TensorMap& inputs, TensorMap& outputs);
  double now_us() const { return std::chrono::duration<double, std::micro>(Clock::now() - epoch_).count(); }

  std::shared_ptr<const ModelImpl> model_;
  const CompiledGraph& graph_;
  int threads_;
  bool profiling_;
  Clock::time_point epoch_;
  std::vector<std::unique_ptr<BoundPlan>> bound_;
  BoundPlan* last_ = nullptr;
  uint64_t uses_ = 0;
  std::vector<std::pair<std::vector<Shape>, std::vector<int>>> profiled_signatures_;
  Profile profile_;
  std::vector<SymbolLink> links_;
  std::vector<Shape> input_shapes_;
};

// Pairs of input dims that share a symbol ("batch" in x and in mask) must agree.
std::vector<SymbolLink> symbol_links(const ir::Graph& g) {
  std::map<std::string, std::pair<int, int>> first;
  std::vector<SymbolLink> links;
  for (size_t i = 0; i < g.inputs.size(); ++i)
    for (int d = 0; d < g.inputs[i].type.rank(); ++d) {
      const ir::Dim& dim = g.inputs[i].type.shape[d];
      if (dim.is_known()) continue;
      auto [it, fresh] = first.emplace(dim.sym, std::pair{int(i), d});
      if (!fresh) links.push_back({it->second.first, it->second.second, int(i), d});
    }
  return links;
}

// Fills input_shapes_ without allocating (this runs on every run).
void SessionImpl::check_inputs(const TensorMap& inputs) {
  const ir::Graph& g = graph_.graph();
  if (inputs.size() != g.inputs.size())
    for (const auto& [name, t] : inputs) {
      bool known = false;
      for (const ir::GraphInput& in : g.inputs) known |= in.name == name;
      if (!known) throw Error(fmt::format("graph '{}' has no input named '{}'", g.name, name));
    }
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const ir::GraphInput& in = g.inputs[i];
    auto it = inputs.find(in.name);
    if (it == inputs.end()) throw Error(fmt::format("input '{}' ({}) is missing", in.name, in.type.str()));
    const Tensor& t = it->second;
    bool ok = t.dtype() == in.type.dtype && t.shape().rank() == in.type.rank();
    for (int d = 0; ok && d < t.shape().rank(); ++d)
      ok = !in.type.shape[d].is_known() || in.type.shape[d].value == t.shape()[d];
    if (!ok)
      throw Error(fmt::format("input '{}': expected {}, got {}{}", in.name, in.type.str(), dtype_name(t.dtype()),
                              t.shape().str()));
    if (!t.data() && t.numel() > 0) throw Error(fmt::format("input '{}' has no data", in.name));
    input_shapes_[i] = t.shape();
  }
  for (const SymbolLink& l : links_) {
    int64_t a = input_shapes_[l.input_a][l.dim_a], b = input_shapes_[l.input_b][l.dim_b];
    if (a != b)
      throw Error(fmt::format("input '{}': dim '{}' is {} here but {} in input '{}'", g.inputs[l.input_b].name,
                              g.inputs[l.input_b].type.shape[l.dim_b].sym, b, a, g.inputs[l.input_a].name));
  }
}

BoundPlan& SessionImpl::bind(const std::vector<Shape>& shapes) {
  ++uses_;
  if (last_ && last_->input_shapes == shapes) {
    last_->last_used = uses_;
    return *last_;
  }
  for (auto& b : bound_)
    if (b->input_shapes == shapes) {
      b->last_used = uses_;
      return *(last_ = b.get());
    }
  if (bound_.size() >= kMaxBoundPlans)  // evict the least recently used
    bound_.erase(std::min_element(bound_.begin(), bound_.end(),
                                  [](const auto& x, const auto& y) { return x->last_used < y->last_used; }));
  auto b = std::make_unique<BoundPlan>();
  b->input_shapes = shapes;
  b->plan = graph_.plan_for(shapes);
  const Backend& backend = graph_.backend();
  b->arena = BackendBuffer(backend, b->plan->arena_bytes);
  const auto& values = graph_.values();
  b->ptrs.assign(values.size(), nullptr);
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].constant) b->ptrs[v] = const_cast<void*>(graph_.constant_data(int(v)));
    if (b->plan->offset[v] >= 0) b->ptrs[v] = static_cast<unsigned char*>(b->arena.get()) + b->plan->offset[v];
  }
  if (backend.device() != Device::cpu) {
    b->staged.resize(values.size());
    for (size_t v = 0; v < values.size(); ++v)
      if (values[v].kind == ValueSlot::Kind::input || (values[v].is_graph_output && values[v].kind == ValueSlot::Kind::node_output))
        b->staged[v] = BackendBuffer(backend, b->plan->values[v].nbytes());
  }
  for (size_t i = 0; i < graph_.nodes().size(); ++i)
    b->invocations.push_back(graph_.nodes()[i].kernel->prepare(b->plan->nodes[i]));
  b->last_used = uses_;
  bound_.push_back(std::move(b));
  return *(last_ = bound_.back().get());
}

void SessionImpl::execute(BoundPlan& b) {
  const auto& nodes = graph_.nodes();
  if (!profiling_) {
    for (size_t i = 0; i < nodes.size(); ++i)
      b.invocations[i]->run({b.ptrs.data(), nodes[i].in_ids.data(), nodes[i].out_ids.data(), nodes[i].in_ids.size()});
    return;
  }
  if (b.profile_rows.empty()) {
    for (const auto& [shapes, rows] : profiled_signatures_)  // a plan evicted earlier keeps its rows
      if (shapes == b.input_shapes) b.profile_rows = rows;
  }
  if (b.profile_rows.empty()) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto shapes = [](const std::vector<TensorDesc>& ds) {
        std::vector<std::string> s;
        for (const TensorDesc& d : ds) s.push_back(d.present ? d.shape.str() : "-");
        return fmt::format("{}", fmt::join(s, " "));
      };
      b.profile_rows.push_back(int(profile_.nodes.size()));
      profile_.nodes.push_back({nodes[i].node->name, nodes[i].node->op, shapes(b.plan->nodes[i].in),
                                shapes(b.plan->nodes[i].out), 0, 0});
    }
    profiled_signatures_.emplace_back(b.input_shapes, b.profile_rows);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    double start = now_us();
    b.invocations[i]->run({b.ptrs.data(), nodes[i].in_ids.data(), nodes[i].out_ids.data(), nodes[i].in_ids.size()});
    if (!b.staged.empty()) graph_.backend().synchronize();  // a device node's time is its queued work's
    double dur = now_us() - start;
    NodeTiming& row = profile_.nodes[b.profile_rows[i]];
    ++row.calls;
    row.total_us += dur;
    if (profile_.events.size() < 1'000'000) profile_.events.push_back({b.profile_rows[i], start, dur});
  }
}

void SessionImpl::run(const TensorMap& inputs, TensorMap& outputs) {
  double start = profiling_ ? now_us() : 0;
  check_inputs(inputs);
  const Backend& backend = graph_.backend();
  backend.set_threads(threads_);
  BoundPlan& b = bind(input_shapes_);
  const bool on_host = b.staged.empty();
  const auto& values = graph_.values();
  for (int id : graph_.input_ids()) {
    const Tensor& t = inputs.at(values[id].name);
    if (on_host) {
      b.ptrs[id] = const_cast<void*>(t.data());
    } else {
      b.ptrs[id] = b.staged[id].get();
      if (t.nbytes()) backend.copy_in(b.ptrs[id], t.data(), t.nbytes());
    }
  }
  for (int id : graph_.output_ids()) {
    const TensorDesc& d = b.plan->values[id];
    Tensor& t = outputs[values[id].name];
    if (!t.data() || t.dtype() != d.dtype || !(t.shape() == d.shape)) t = Tensor::empty(d.dtype, d.shape);
    if (values[id].kind == ValueSlot::Kind::node_output) b.ptrs[id] = on_host ? t.data() : b.staged[id].get();
    else if (t.nbytes()) backend.copy_out(t.data(), b.ptrs[id], t.nbytes());  // an input or weight passed through
  }
  for (size_t v = 0; v < values.size(); ++v)
    if (b.plan->alias_of[v] >= 0) b.ptrs[v] = b.ptrs[b.plan->alias_of[v]];
  execute(b);
  if (!on_host) copy_back(b, inputs, outputs);
  if (profiling_) {
    ++profile_.runs;
    profile_.run_total_us += now_us() - start;
  }
}

// A device backend's results to the caller's tensors: the outputs, and the
// inputs that nodes updated in place (KV caches).
void SessionImpl::copy_back(BoundPlan& b, const TensorMap& inputs, TensorMap& outputs) {
  const Backend& backend = graph_.backend();
  const auto& values = graph_.values();
  for (int id : graph_.output_ids())
    if (values[id].kind == ValueSlot::Kind::node_output) {
      Tensor& t = outputs.at(values[id].name);
      if (t.nbytes()) backend.copy_out(t.data(), b.staged[id].get(), t.nbytes());
    }
  for (int id : graph_.mutated_input_ids()) {
    const Tensor& t = inputs.at(values[id].name);
    if (t.nbytes()) backend.copy_out(const_cast<void*>(t.data()), b.staged[id].get(), t.nbytes());
  }
  backend.synchronize();
}

}  // namespace heed::detail

namespace heed {

Session::Session(const Model& model, const SessionOptions& options)
    : impl_(std::make_unique<detail::SessionImpl>(model.impl_, options)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
TensorMap Session::run(const TensorMap& inputs) {
  TensorMap outputs;
  impl_->run(inputs, outputs);
  return outputs;
}
void Session::run(const TensorMap& inputs, TensorMap& outputs) { impl_->run(inputs, outputs); }
Profile Session::profile() const { return impl_->profile(); }
void Session::reset_profile() { impl_->reset_profile(); }

}  // namespace heed
