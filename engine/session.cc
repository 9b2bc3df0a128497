#include <heed/model.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "engine/model_impl.h"

namespace heed::detail {

using Clock = std::chrono::steady_clock;

// One session's state for one input signature: the prepared invocations and the
// value pointer table. Built once, reused by every run.
struct SymbolLink {
  int input_a, dim_a, input_b, dim_b;
};
std::vector<SymbolLink> symbol_links(const ir::Graph& g);

struct BoundPlan {
  std::vector<Shape> input_shapes;
  std::shared_ptr<const ShapePlan> plan;
  uint64_t memory_epoch = 0;  // the session memory its pointers (and recordings) are for
  // A device backend's copies of the graph's host inputs and outputs, by value
  // id (empty on the CPU, whose kernels use the caller's tensors directly).
  std::vector<BackendBuffer> staged;  // by value id
  std::vector<std::shared_ptr<Invocation>> invocations;  // shared with other plans where shapes agree
  std::vector<void*> ptrs;
  std::vector<int> profile_rows;
  // Profiling: each node's start and duration in the last run; on a device, the
  // event clock (CUDA events between nodes) that measures them.
  std::unique_ptr<EventClock> clock;
  std::vector<double> node_start_us, node_us;
  // A device's recordings of the whole plan (CUDA Graphs), each valid for the
  // value pointers it was recorded with, and the pointers of the last runs.
  bool replayable = false;
  std::vector<std::pair<std::vector<void*>, std::unique_ptr<RecordedWork>>> recordings;
  std::vector<std::vector<void*>> recent_ptrs;
  uint64_t last_used = 0;
};

// Recordings kept per bound plan: a decode step whose state alternates between
// two buffers (recurrent h -> h_out -> h) has two pointer sets.
constexpr size_t kMaxRecordings = 2;

// Bound plans kept per session: each holds prepared kernels for one input
// signature, so a session fed ever-new shapes (sentences of every length) keeps
// the most recently used few instead of growing without bound. Their memory is
// the session's: one arena and one workspace, each as large as the largest plan
// needs, shared since a session runs one plan, one node at a time. So a new
// shape costs no new memory once the session has seen a larger one.
constexpr size_t kMaxBoundPlans = 6;

class SessionImpl {
 public:
  SessionImpl(std::shared_ptr<const ModelImpl> model, const SessionOptions& o)
      : model_(std::move(model)),
        graph_(model_->graph(o.graph)),
        threads_(o.threads > 0 ? o.threads : graph_.backend().default_threads()),
        profiling_(o.profile),
        outputs_on_device_(o.keep_outputs_on_device && graph_.backend().device() != Device::cpu),
        epoch_(Clock::now()),
        links_(symbol_links(graph_.graph())),
        input_shapes_(graph_.graph().inputs.size()) {}

  void run(const TensorMap& inputs, TensorMap& outputs);
  Profile profile() const { return profile_; }
  Tensor new_tensor(DType dtype, const Shape& shape) const { return heed::new_tensor(graph_.backend(), dtype, shape); }
  Tensor to_device(const Tensor& host) const;
  Tensor to_host(const Tensor& t) const;
  void reset_profile() {
    profile_ = Profile{};
    profiled_signatures_.clear();
    for (auto& b : bound_) b->profile_rows.clear();
  }

 private:
  void check_inputs(const TensorMap& inputs);
  BoundPlan& bind(const std::vector<Shape>& shapes);
  std::shared_ptr<Invocation> prepared_before(size_t node, const NodeShapes& shapes) const;
  void execute(BoundPlan& b);
  void profiled_execute(BoundPlan& b);
  void run_nodes(BoundPlan& b);
  Buffers buffers(const BoundPlan& b, size_t node) const {
    const auto& n = graph_.nodes()[node];
    return {b.ptrs.data(), n.in_ids.data(), n.out_ids.data(), n.in_ids.size(), workspace_.get()};
  }
  void point_into_arena(BoundPlan& b);
  void reserve(BackendBuffer& buffer, size_t& bytes, size_t need);
  bool replay_or_record(BoundPlan& b);
  void bind_outputs(BoundPlan& b, TensorMap& outputs);
  void* staged(BoundPlan& b, int id);
  void copy_back(BoundPlan& b, const TensorMap& inputs, TensorMap& outputs);
  double now_us() const { return std::chrono::duration<double, std::micro>(Clock::now() - epoch_).count(); }

  std::shared_ptr<const ModelImpl> model_;
  const CompiledGraph& graph_;
  int threads_;
  bool profiling_;
  bool outputs_on_device_;
  Clock::time_point epoch_;
  std::vector<std::unique_ptr<BoundPlan>> bound_;
  BoundPlan* last_ = nullptr;
  BackendBuffer arena_, workspace_;
  size_t arena_bytes_ = 0, workspace_bytes_ = 0;
  uint64_t memory_epoch_ = 1;  // advanced whenever arena_ or workspace_ moves
  uint64_t uses_ = 0;
  std::vector<std::pair<std::vector<Shape>, std::vector<int>>> profiled_signatures_;
  Profile profile_;
  std::vector<SymbolLink> links_;
  std::vector<Shape> input_shapes_;
};

// A node whose outputs are all empty (a batch of 0) has nothing to compute: its
// kernel is never prepared or run, so no kernel meets a zero-sized problem.
class NothingToDo : public Invocation {
 public:
  void run(const Buffers&) override {}
};

bool outputs_empty(const NodeShapes& s) {
  for (const TensorDesc& d : s.out)
    if (d.shape.numel() != 0) return false;
  return true;
}

// Called inside a catch block: the error again, naming the graph and node
// unless it already does; library errors (oneDNN's, the allocator's) become
// heed::Error.
[[noreturn]] void rethrow_at(const ModelImpl& model, const ir::Graph& g, const ir::Node& n) {
  std::string message;
  try {
    throw;
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::bad_alloc&) {
    message = "out of memory";
  } catch (const std::exception& e) {
    message = fmt::format("the kernel failed: {}", e.what());
  }
  const std::string where = n.where();
  if (message.find(where) != std::string::npos) throw Error(model.with_path(message));
  throw Error(model.with_path(fmt::format("graph '{}': {}: {}", g.name, where, message)));
}

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
    if (t.device() != Device::cpu && t.device() != graph_.backend().device())
      throw Error(fmt::format("input '{}' is in {} memory, but graph '{}' runs on the {} backend", in.name,
                              t.device() == Device::cuda ? "cuda" : "cpu", g.name, graph_.backend().name()));
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
  try {
    b->plan = graph_.plan_for(shapes);
  } catch (const Error& e) {
    throw Error(model_->with_path(e.what()));
  }
  const Backend& backend = graph_.backend();
  try {
    reserve(arena_, arena_bytes_, b->plan->arena_bytes);
  } catch (const Error& e) {
    size_t largest = 0;
    for (size_t v = 1; v < b->plan->values.size(); ++v)
      if (b->plan->values[v].nbytes() > b->plan->values[largest].nbytes()) largest = v;
    throw Error(model_->with_path(fmt::format("graph '{}': its intermediate values need {} bytes, the largest '{}' {}: {}",
                                              graph_.graph().name, b->plan->arena_bytes, graph_.values()[largest].name,
                                              b->plan->values[largest].shape.str(), e.what())));
  }
  const auto& values = graph_.values();
  b->ptrs.assign(values.size(), nullptr);
  for (size_t v = 0; v < values.size(); ++v)
    if (values[v].constant) b->ptrs[v] = const_cast<void*>(graph_.constant_data(int(v)));
  point_into_arena(*b);
  if (backend.device() != Device::cpu) b->staged.resize(values.size());  // filled as needed (staged())
  b->replayable = backend.device() != Device::cpu;
  size_t workspace = 0;
  for (size_t i = 0; i < graph_.nodes().size(); ++i) {
    try {
      const NodeShapes& shapes = b->plan->nodes[i];
      std::shared_ptr<Invocation> same = prepared_before(i, shapes);
      b->invocations.push_back(same                   ? same
                               : outputs_empty(shapes) ? std::make_unique<NothingToDo>()
                                                       : graph_.nodes()[i].kernel->prepare(shapes));
    } catch (...) {
      rethrow_at(*model_, graph_.graph(), *graph_.nodes()[i].node);
    }
    b->replayable &= b->invocations.back()->replayable();
    workspace = std::max(workspace, b->invocations.back()->workspace_bytes());
  }
  reserve(workspace_, workspace_bytes_, workspace);
  b->last_used = uses_;
  bound_.push_back(std::move(b));
  return *(last_ = bound_.back().get());
}

namespace {

bool same_desc(const TensorDesc& a, const TensorDesc& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.present == b.present && a.channel_block == b.channel_block &&
         a.elements == b.elements;
}

bool same_shapes(const NodeShapes& a, const NodeShapes& b) {
  return std::equal(a.in.begin(), a.in.end(), b.in.begin(), b.in.end(), same_desc) &&
         std::equal(a.out.begin(), a.out.end(), b.out.begin(), b.out.end(), same_desc);
}

}  // namespace

// A node whose shapes are those of a plan bound before shares its invocation: a
// decode step's Linear, LayerNorm and shape arithmetic are the same at every
// past length, and preparing them again for each new length cost ~6% of a GPT-2
// step. The session runs one plan at a time, so a shared invocation never runs
// twice at once. On the CPU only: a device's recordings stay per plan.
std::shared_ptr<Invocation> SessionImpl::prepared_before(size_t node, const NodeShapes& shapes) const {
  if (graph_.backend().device() != Device::cpu) return nullptr;
  for (const auto& other : bound_)
    if (same_shapes(other->plan->nodes[node], shapes)) return other->invocations[node];
  return nullptr;
}

// Grows one of the session's buffers to `need` bytes (freed first, so the old
// and new never both count). The plans bound before move onto it at their next
// run (point_into_arena).
void SessionImpl::reserve(BackendBuffer& buffer, size_t& bytes, size_t need) {
  if (need <= bytes) return;
  buffer = BackendBuffer();
  buffer = BackendBuffer(graph_.backend(), need);
  bytes = need;
  ++memory_epoch_;
}

// The plan's intermediate values at their offsets in the session's arena. A
// device recording made over earlier session memory is of no use any more.
void SessionImpl::point_into_arena(BoundPlan& b) {
  for (size_t v = 0; v < b.ptrs.size(); ++v)
    if (b.plan->offset[v] >= 0) b.ptrs[v] = static_cast<unsigned char*>(arena_.get()) + b.plan->offset[v];
  b.memory_epoch = memory_epoch_;
  b.recordings.clear();
  b.recent_ptrs.clear();
}

void SessionImpl::execute(BoundPlan& b) {
  if (profiling_) return profiled_execute(b);
  if (b.replayable && replay_or_record(b)) return;
  run_nodes(b);
}

void SessionImpl::run_nodes(BoundPlan& b) {
  const auto& nodes = graph_.nodes();
  size_t i = 0;
  try {
    for (; i < nodes.size(); ++i) b.invocations[i]->run(buffers(b, i));
  } catch (...) {
    rethrow_at(*model_, graph_.graph(), *nodes[i].node);
  }
}

// A device plan run again over the same memory (a decode step: same caches, same
// staging buffers) is recorded once, the second time its pointers are seen, and
// replayed from then on: one launch instead of one per kernel. Returns whether
// the work was queued here.
bool SessionImpl::replay_or_record(BoundPlan& b) {
  for (auto& [ptrs, recording] : b.recordings)
    if (ptrs == b.ptrs) {
      recording->replay();
      return true;
    }
  const bool seen = std::find(b.recent_ptrs.begin(), b.recent_ptrs.end(), b.ptrs) != b.recent_ptrs.end();
  if (seen && b.recordings.size() < kMaxRecordings) {
    std::unique_ptr<RecordedWork> recording = graph_.backend().record([&] { run_nodes(b); });
    if (!recording) {  // the backend could not record this plan: run it as it is from now on
      b.replayable = false;
      return false;
    }
    recording->replay();
    b.recordings.emplace_back(b.ptrs, std::move(recording));
    return true;
  }
  if (!seen) {  // the oldest set's storage takes the new one (no allocation once both exist)
    if (b.recent_ptrs.size() < kMaxRecordings) {
      b.recent_ptrs.push_back(b.ptrs);
    } else {
      std::rotate(b.recent_ptrs.begin(), b.recent_ptrs.begin() + 1, b.recent_ptrs.end());
      b.recent_ptrs.back().assign(b.ptrs.begin(), b.ptrs.end());
    }
  }
  return false;
}

// Host kernels are timed by the host clock around each node. A device's nodes
// are timed by its event clock (marks queued between nodes, read once after the
// run): their queued work's duration, laid end to end from the run's start.
void SessionImpl::profiled_execute(BoundPlan& b) {
  const auto& nodes = graph_.nodes();
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
  if (b.node_us.empty()) {
    b.node_start_us.assign(nodes.size(), 0);
    b.node_us.assign(nodes.size(), 0);
    if (!b.staged.empty()) b.clock = graph_.backend().make_event_clock(nodes.size() + 1);
  }
  const double run_start = now_us();
  if (b.clock) b.clock->mark(0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    b.node_start_us[i] = now_us();
    try {
      b.invocations[i]->run(buffers(b, i));
    } catch (...) {
      rethrow_at(*model_, graph_.graph(), *nodes[i].node);
    }
    if (b.clock) {
      b.clock->mark(i + 1);
      continue;
    }
    if (!b.staged.empty()) graph_.backend().synchronize();  // a device without an event clock
    b.node_us[i] = now_us() - b.node_start_us[i];
  }
  if (b.clock) {
    b.clock->elapsed_us(b.node_us.data(), nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) b.node_start_us[i] = i ? b.node_start_us[i - 1] + b.node_us[i - 1] : run_start;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodeTiming& row = profile_.nodes[b.profile_rows[i]];
    ++row.calls;
    row.total_us += b.node_us[i];
    if (profile_.events.size() < 1'000'000) profile_.events.push_back({b.profile_rows[i], b.node_start_us[i], b.node_us[i]});
  }
}

void SessionImpl::run(const TensorMap& inputs, TensorMap& outputs) {
  double start = profiling_ ? now_us() : 0;
  check_inputs(inputs);
  const Backend& backend = graph_.backend();
  backend.set_threads(threads_);
  BoundPlan& b = bind(input_shapes_);
  if (b.memory_epoch != memory_epoch_) point_into_arena(b);
  const bool on_host = b.staged.empty();
  const auto& values = graph_.values();
  for (int id : graph_.input_ids()) {
    const Tensor& t = inputs.at(values[id].name);
    if (on_host || t.device() != Device::cpu) {  // host kernels, or a tensor in the device's memory
      b.ptrs[id] = const_cast<void*>(t.data());
    } else {
      b.ptrs[id] = staged(b, id);
      if (t.nbytes()) backend.copy_in(b.ptrs[id], t.data(), t.nbytes());
    }
  }
  bind_outputs(b, outputs);
  for (size_t v = 0; v < values.size(); ++v)
    if (b.plan->alias_of[v] >= 0) b.ptrs[v] = b.ptrs[b.plan->alias_of[v]];
  execute(b);
  if (!on_host) copy_back(b, inputs, outputs);
  if (profiling_) {
    ++profile_.runs;
    profile_.run_total_us += now_us() - start;
  }
}

Tensor SessionImpl::to_device(const Tensor& host) const {
  const Backend& backend = graph_.backend();
  if (host.device() == backend.device()) return host;
  if (host.device() != Device::cpu) throw Error("to_device: the tensor is in another device's memory");
  Tensor t = new_tensor(host.dtype(), host.shape());
  if (t.nbytes()) backend.copy_in(t.data(), host.data(), t.nbytes());
  backend.synchronize();
  return t;
}

Tensor SessionImpl::to_host(const Tensor& t) const {
  const Backend& backend = graph_.backend();
  if (t.device() == Device::cpu) return t;
  if (t.device() != backend.device()) throw Error("to_host: the tensor is in another device's memory");
  Tensor host = Tensor::empty(t.dtype(), t.shape());
  if (t.nbytes()) backend.copy_out(host.data(), t.data(), t.nbytes());
  backend.synchronize();
  return host;
}

// Caller-owned outputs of the right dtype and shape are written in place (on a
// device, those in its memory without a copy back); others are allocated, in
// the device's memory when the session keeps its outputs there.
void SessionImpl::bind_outputs(BoundPlan& b, TensorMap& outputs) {
  const Backend& backend = graph_.backend();
  const bool on_host = b.staged.empty();
  const auto& values = graph_.values();
  for (int id : graph_.output_ids()) {
    const TensorDesc& d = b.plan->values[id];
    Tensor& t = outputs[values[id].name];
    const bool reusable = t.data() && t.dtype() == d.dtype && t.shape() == d.shape &&
                          (t.device() == Device::cpu || t.device() == backend.device());
    if (!reusable) t = outputs_on_device_ ? new_tensor(d.dtype, d.shape) : Tensor::empty(d.dtype, d.shape);
    const bool in_place = on_host || t.device() != Device::cpu;
    if (values[id].kind == ValueSlot::Kind::node_output) b.ptrs[id] = in_place ? t.data() : staged(b, id);
    else if (!t.nbytes()) continue;
    else if (!on_host && in_place) backend.copy_blocks({{t.data(), b.ptrs[id], t.nbytes()}});  // passed through
    else backend.copy_out(t.data(), b.ptrs[id], t.nbytes());  // an input or weight passed through
  }
}

// A device backend's copy of graph input or output `id`, allocated when first needed.
void* SessionImpl::staged(BoundPlan& b, int id) {
  if (!b.staged[size_t(id)].get()) b.staged[size_t(id)] = BackendBuffer(graph_.backend(), b.plan->values[size_t(id)].nbytes());
  return b.staged[size_t(id)].get();
}

// A device backend's results to the caller's host tensors: the outputs, and the
// inputs that nodes updated in place (KV caches). Tensors in the device's
// memory are already up to date. Then the kernels' own checks are read.
void SessionImpl::copy_back(BoundPlan& b, const TensorMap& inputs, TensorMap& outputs) {
  const Backend& backend = graph_.backend();
  const auto& values = graph_.values();
  for (int id : graph_.output_ids())
    if (values[id].kind == ValueSlot::Kind::node_output) {
      Tensor& t = outputs.at(values[id].name);
      if (t.device() == Device::cpu && t.nbytes()) backend.copy_out(t.data(), b.staged[id].get(), t.nbytes());
    }
  for (int id : graph_.mutated_input_ids()) {
    const Tensor& t = inputs.at(values[id].name);
    if (t.device() == Device::cpu && t.nbytes()) backend.copy_out(const_cast<void*>(t.data()), b.staged[id].get(), t.nbytes());
  }
  backend.synchronize();
  const auto& nodes = graph_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i)  // what device kernels found wrong (an id out of range)
    b.invocations[i]->check_after_run(buffers(b, i));
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
Tensor Session::new_tensor(DType dtype, const Shape& shape) const { return impl_->new_tensor(dtype, shape); }
Tensor Session::to_device(const Tensor& host) const { return impl_->to_device(host); }
Tensor Session::to_host(const Tensor& t) const { return impl_->to_host(t); }
Profile Session::profile() const { return impl_->profile(); }
void Session::reset_profile() { impl_->reset_profile(); }

}  // namespace heed
