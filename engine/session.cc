#include <heed/model.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "engine/model_impl.h"

namespace heed::detail {

using Clock = std::chrono::steady_clock;

// One session's state for one input signature: the arena, the prepared
// invocations and the value pointer table. Built once, reused by every run.
struct BoundPlan {
  std::vector<Shape> input_shapes;
  std::shared_ptr<const ShapePlan> plan;
  std::unique_ptr<unsigned char, decltype(&std::free)> arena{nullptr, &std::free};
  std::vector<std::unique_ptr<Invocation>> invocations;
  std::vector<void*> ptrs;
  std::vector<int> profile_rows;
};

class SessionImpl {
 public:
  SessionImpl(std::shared_ptr<const ModelImpl> model, const SessionOptions& o)
      : model_(std::move(model)),
        graph_(model_->graph(o.graph)),
        threads_(o.threads > 0 ? o.threads : graph_.backend().default_threads()),
        profiling_(o.profile),
        epoch_(Clock::now()) {}

  TensorMap run(const TensorMap& inputs);
  Profile profile() const { return profile_; }
  void reset_profile() {
    profile_ = Profile{};
    for (auto& b : bound_) b->profile_rows.clear();
  }

 private:
  std::vector<Shape> check_inputs(const TensorMap& inputs) const;
  BoundPlan& bind(const std::vector<Shape>& shapes);
  void execute(BoundPlan& b);
  double now_us() const { return std::chrono::duration<double, std::micro>(Clock::now() - epoch_).count(); }

  std::shared_ptr<const ModelImpl> model_;
  const CompiledGraph& graph_;
  int threads_;
  bool profiling_;
  Clock::time_point epoch_;
  std::vector<std::unique_ptr<BoundPlan>> bound_;
  BoundPlan* last_ = nullptr;
  Profile profile_;
};

std::vector<Shape> SessionImpl::check_inputs(const TensorMap& inputs) const {
  const ir::Graph& g = graph_.graph();
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const ir::GraphInput& in : g.inputs) known |= in.name == name;
    if (!known) throw Error(fmt::format("graph '{}' has no input named '{}'", g.name, name));
  }
  std::map<std::string, int64_t> symbols;
  std::vector<Shape> shapes;
  for (const ir::GraphInput& in : g.inputs) {
    auto it = inputs.find(in.name);
    if (it == inputs.end()) throw Error(fmt::format("input '{}' ({}) is missing", in.name, in.type.str()));
    const Tensor& t = it->second;
    auto mismatch = [&] {
      return Error(fmt::format("input '{}': expected {}, got {}{}", in.name, in.type.str(),
                               dtype_name(t.dtype()), t.shape().str()));
    };
    if (t.dtype() != in.type.dtype || t.shape().rank() != in.type.rank()) throw mismatch();
    for (int d = 0; d < t.shape().rank(); ++d) {
      const ir::Dim& want = in.type.shape[d];
      if (want.is_known() && want.value != t.shape()[d]) throw mismatch();
      if (!want.is_known()) {
        auto [s, fresh] = symbols.emplace(want.sym, t.shape()[d]);
        if (!fresh && s->second != t.shape()[d])
          throw Error(fmt::format("input '{}': dim '{}' is {} here but {} in another input", in.name,
                                  want.sym, t.shape()[d], s->second));
      }
    }
    if (!t.data() && t.numel() > 0) throw Error(fmt::format("input '{}' has no data", in.name));
    shapes.push_back(t.shape());
  }
  return shapes;
}

BoundPlan& SessionImpl::bind(const std::vector<Shape>& shapes) {
  if (last_ && last_->input_shapes == shapes) return *last_;
  for (auto& b : bound_)
    if (b->input_shapes == shapes) return *(last_ = b.get());
  auto b = std::make_unique<BoundPlan>();
  b->input_shapes = shapes;
  b->plan = graph_.plan_for(shapes);
  if (b->plan->arena_bytes) {
    b->arena.reset(static_cast<unsigned char*>(std::aligned_alloc(64, b->plan->arena_bytes)));
    if (!b->arena) throw Error(fmt::format("out of memory: arena of {} bytes", b->plan->arena_bytes));
  }
  const auto& values = graph_.values();
  b->ptrs.assign(values.size(), nullptr);
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].constant) b->ptrs[v] = const_cast<void*>(values[v].constant->data());
    if (b->plan->offset[v] >= 0) b->ptrs[v] = b->arena.get() + b->plan->offset[v];
  }
  for (size_t i = 0; i < graph_.nodes().size(); ++i)
    b->invocations.push_back(graph_.nodes()[i].kernel->prepare(b->plan->nodes[i]));
  bound_.push_back(std::move(b));
  return *(last_ = bound_.back().get());
}

void SessionImpl::execute(BoundPlan& b) {
  const auto& nodes = graph_.nodes();
  if (!profiling_) {
    for (size_t i = 0; i < nodes.size(); ++i)
      b.invocations[i]->run({b.ptrs.data(), nodes[i].in_ids.data(), nodes[i].out_ids.data()});
    return;
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
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    double start = now_us();
    b.invocations[i]->run({b.ptrs.data(), nodes[i].in_ids.data(), nodes[i].out_ids.data()});
    double dur = now_us() - start;
    NodeTiming& row = profile_.nodes[b.profile_rows[i]];
    ++row.calls;
    row.total_us += dur;
    if (profile_.events.size() < 1'000'000) profile_.events.push_back({b.profile_rows[i], start, dur});
  }
}

TensorMap SessionImpl::run(const TensorMap& inputs) {
  double start = profiling_ ? now_us() : 0;
  std::vector<Shape> shapes = check_inputs(inputs);
  graph_.backend().set_threads(threads_);
  BoundPlan& b = bind(shapes);
  const auto& values = graph_.values();
  const auto& in_ids = graph_.input_ids();
  for (size_t i = 0; i < in_ids.size(); ++i)
    b.ptrs[in_ids[i]] = const_cast<void*>(inputs.at(values[in_ids[i]].name).data());
  TensorMap outputs;
  for (int id : graph_.output_ids()) {
    const TensorDesc& d = b.plan->values[id];
    Tensor t = Tensor::empty(d.dtype, d.shape);
    if (values[id].kind == ValueSlot::Kind::node_output) b.ptrs[id] = t.data();
    else if (t.nbytes()) std::memcpy(t.data(), b.ptrs[id], t.nbytes());  // an input or weight passed through
    outputs[values[id].name] = std::move(t);
  }
  for (size_t v = 0; v < values.size(); ++v)
    if (b.plan->alias_of[v] >= 0) b.ptrs[v] = b.ptrs[b.plan->alias_of[v]];
  execute(b);
  if (profiling_) {
    ++profile_.runs;
    profile_.run_total_us += now_us() - start;
  }
  return outputs;
}

}  // namespace heed::detail

namespace heed {

Session::Session(const Model& model, const SessionOptions& options)
    : impl_(std::make_unique<detail::SessionImpl>(model.impl_, options)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
TensorMap Session::run(const TensorMap& inputs) { return impl_->run(inputs); }
Profile Session::profile() const { return impl_->profile(); }
void Session::reset_profile() { impl_->reset_profile(); }

}  // namespace heed
