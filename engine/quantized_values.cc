#include "engine/quantized_values.h"

#include <algorithm>
#include <cmath>

namespace heed {
namespace {

struct Use {
  size_t node, input;
};

bool takes(const CompiledNode& n, size_t input) {
  const QuantizedIO* io = n.kernel->quantized_io();
  return io && std::find(io->inputs.begin(), io->inputs.end(), int(input)) != io->inputs.end();
}

// The calibrated scale of every f32 value with a range.
void set_scales(const CompiledGraph& graph, ShapePlan& plan) {
  const auto& ranges = graph.graph().activation_ranges;
  for (size_t v = 0; v < graph.values().size(); ++v) {
    auto r = ranges.find(graph.values()[v].name);
    TensorDesc& d = plan.values[v];
    if (r == ranges.end() || d.dtype != DType::f32) continue;
    const auto [lo, hi] = r->second;
    d.nonnegative = lo >= 0.f;
    const float amax = d.nonnegative ? hi : std::max(std::fabs(lo), std::fabs(hi));
    d.scale = amax > 0.f ? amax / (d.nonnegative ? 255.f : 127.f) : 1.f / 255.f;
  }
}

}  // namespace

void choose_quantized_values(const CompiledGraph& graph, ShapePlan& plan) {
  if (graph.graph().activation_ranges.empty()) return;
  set_scales(graph, plan);
  const std::vector<CompiledNode>& nodes = graph.nodes();
  const std::vector<ValueSlot>& values = graph.values();
  std::vector<std::vector<Use>> uses(values.size());
  std::vector<int> producer(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t k = 0; k < nodes[i].in_ids.size(); ++k)
      if (nodes[i].in_ids[k] >= 0) uses[size_t(nodes[i].in_ids[k])].push_back({i, k});
    if (!nodes[i].out_ids.empty()) producer[size_t(nodes[i].out_ids[0])] = int(i);
  }
  std::vector<bool> quantized(values.size(), false);
  for (size_t v = 0; v < values.size(); ++v) {
    const TensorDesc& d = plan.values[v];
    if (d.scale <= 0.f || producer[v] < 0 || values[v].is_graph_output || d.shape.rank() != 4 || d.channel_block != 1 ||
        !nodes[size_t(producer[v])].kernel->quantized_io())
      continue;
    quantized[v] = std::all_of(uses[v].begin(), uses[v].end(), [&](const Use& u) { return takes(nodes[u.node], u.input); });
  }
  for (bool changed = true; changed;) {  // only ever unquantizes: it ends
    changed = false;
    for (const CompiledNode& n : nodes) {
      const int out = n.out_ids.empty() ? -1 : n.out_ids[0];
      if (out < 0 || !quantized[size_t(out)]) continue;
      const int needs = n.kernel->quantized_io()->needs;
      const int in = needs >= 0 && size_t(needs) < n.in_ids.size() ? n.in_ids[size_t(needs)] : -1;
      if (in >= 0 && !quantized[size_t(in)]) quantized[size_t(out)] = false, changed = true;
    }
  }
  for (const CompiledNode& n : nodes) {  // in order: a kept scale is its input's, set before
    const int out = n.out_ids.empty() ? -1 : n.out_ids[0];
    if (out < 0 || !quantized[size_t(out)]) continue;
    TensorDesc& d = plan.values[size_t(out)];
    const QuantizedIO& io = *n.kernel->quantized_io();
    if (io.keeps_scale) {
      const TensorDesc& from = plan.values[size_t(n.in_ids[size_t(io.needs)])];
      d.scale = from.scale, d.nonnegative = from.nonnegative, d.dtype = from.dtype;
    } else {
      d.dtype = d.nonnegative ? DType::u8 : DType::i8;
    }
  }
}

}  // namespace heed
