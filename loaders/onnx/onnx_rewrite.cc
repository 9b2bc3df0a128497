#include "loaders/onnx/onnx_rewrite.h"

#include <set>

namespace heed::onnx_import {

GraphRewrite::GraphRewrite(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types)
    : g_(g), weights_(weights), types_(types), taken_(g.nodes.size(), false) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& in : g.nodes[i].inputs)
      if (!in.empty()) readers_[in].push_back(i);
    for (const std::string& out : g.nodes[i].outputs) producer_[out] = i;
  }
  for (const std::string& out : g.outputs) readers_[out].push_back(kGraphOutput);
}

ir::Node* GraphRewrite::sole_producer(const std::string& value, const char* op) {
  auto p = producer_.find(value);
  auto r = readers_.find(value);
  if (p == producer_.end() || r == readers_.end() || r->second.size() != 1 || taken_[p->second]) return nullptr;
  ir::Node& n = g_.nodes[p->second];
  return n.op == op ? &n : nullptr;
}

ir::Node* GraphRewrite::sole_reader(const std::string& value, const char* op) {
  const auto& r = readers_[value];
  if (r.size() != 1 || r[0] == kGraphOutput || taken_[r[0]]) return nullptr;
  ir::Node& n = g_.nodes[r[0]];
  return n.op == op ? &n : nullptr;
}

std::optional<float> GraphRewrite::scalar(const std::string& value) const {
  const Tensor* t = weights_.find(value);
  if (!t || t->dtype() != DType::f32 || t->numel() != 1) return std::nullopt;
  return t->data_as<float>()[0];
}

std::optional<ir::ValueType> GraphRewrite::type(const std::string& value) const {
  if (auto t = types_.find(value); t != types_.end()) return t->second;
  if (const Tensor* w = weights_.find(value)) return ir::ValueType{w->dtype(), ir::to_sym(w->shape())};
  return std::nullopt;
}

int GraphRewrite::f32_rank(const std::string& value) const {
  std::optional<ir::ValueType> t = type(value);
  return t && t->dtype == DType::f32 ? t->rank() : -1;
}

void GraphRewrite::drop_taken() {
  std::vector<ir::Node> kept;
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (!taken_[i]) kept.push_back(std::move(g_.nodes[i]));
  g_.nodes = std::move(kept);
}

int Fusion::run(const char* op) {
  int fused = 0;
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (g_.nodes[i].op == op && fuse(i)) ++fused;
  rw_.drop_taken();
  return fused;
}

std::string attr_or(const ir::Node& n, const std::string& key, const std::string& fallback) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) return fallback;
  const std::string* s = std::get_if<std::string>(&it->second);
  return s ? *s : fallback;
}

// Shape arithmetic that became constants, or Reshapes that became static,
// leave nodes nobody reads: they go (last first, so chains go whole), with the
// parameters only they read.
ir::Graph without_unread_nodes(ir::Graph g) {
  std::set<std::string> read(g.outputs.begin(), g.outputs.end());
  std::vector<bool> keep(g.nodes.size(), false);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const ir::Node& n = g.nodes[i];
    for (const std::string& out : n.outputs) keep[i] = keep[i] || read.count(out);
    if (keep[i]) read.insert(n.inputs.begin(), n.inputs.end());
  }
  std::vector<ir::Node> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (keep[i]) nodes.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(nodes);
  std::erase_if(g.parameters, [&](const ir::Parameter& p) { return !read.count(p.name); });
  return g;
}

}  // namespace heed::onnx_import
