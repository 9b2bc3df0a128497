#include "engine/projection_weights.h"

#include <vector>

#include "engine/op_def.h"
#include "engine/stored_weight.h"

namespace heed {
namespace {

// The weight a Gather (input 0, axis 0) or Embedding (input 1) looks rows up in, or "".
std::string looked_up_table(const ir::Node& n, const std::map<std::string, std::string>& weight_of, const WeightStore& weights) {
  size_t input = 0;
  if (n.op == "Embedding") input = 1;
  else if (n.op != "Gather") return "";
  if (input >= n.inputs.size()) return "";
  auto w = weight_of.find(n.inputs[input]);
  if (w == weight_of.end()) return "";
  const Tensor* t = weights.find(w->second);
  if (n.op == "Gather") {
    const int64_t axis = n.attr_int("axis");
    if (!t || (axis != 0 && axis != -int64_t(t->shape().rank()))) return "";
  }
  return w->second;
}

std::map<std::string, std::string> weights_by_value(const ir::Graph& g) {
  std::map<std::string, std::string> weight_of;  // value -> weight
  for (const ir::Parameter& p : g.parameters) weight_of[p.name] = p.weight;
  return weight_of;
}

}  // namespace

std::map<std::string, std::set<int>> projection_axes(const ir::GraphFile& graphs, const WeightStore& weights) {
  std::map<std::string, std::set<int>> axes;
  for (const auto& [name, g] : graphs.graphs) {
    const std::map<std::string, std::string> weight_of = weights_by_value(g);
    std::map<std::string, const Tensor*> constant_of;
    for (const auto& [value, weight] : weight_of) constant_of[value] = weights.find(weight);
    for (const ir::Constant& c : g.constants) constant_of[c.name] = &c.value;
    for (const ir::Node& n : g.nodes) {
      const ir::OpDef* op = ir::find_op(n.op);
      if (!op || !op->weight_axis) continue;
      std::vector<const Tensor*> constants;
      for (const std::string& in : n.inputs) constants.push_back(constant_of.count(in) ? constant_of[in] : nullptr);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        auto w = weight_of.find(n.inputs[i]);
        const int axis = w == weight_of.end() ? -1 : op->weight_axis(n, i, constants);
        if (axis >= 0) axes[w->second].insert(axis);
      }
    }
  }
  return axes;
}

int store_tied_tables(const ir::GraphFile& graphs, WeightStore& weights, Precision precision) {
  if (precision == Precision::f32 || weights.stored_precision()) return 0;  // a quantized file stores its own
  const std::map<std::string, std::set<int>> axes = projection_axes(graphs, weights);
  std::set<std::string> tables;
  for (const auto& [name, g] : graphs.graphs) {
    const std::map<std::string, std::string> weight_of = weights_by_value(g);
    for (const ir::Node& n : g.nodes) {
      const std::string table = looked_up_table(n, weight_of, weights);
      auto a = axes.find(table);
      if (!table.empty() && a != axes.end() && a->second == std::set<int>{0}) tables.insert(table);
    }
  }
  int stored = 0;
  for (const std::string& name : tables) {
    const Tensor* t = weights.find(name);
    if (!t || t->dtype() != DType::f32 || !t->data() || t->numel() == 0 || weights.stored(name)) continue;
    weights.store(name, store_weight(*t, precision, 0, name));
    ++stored;
  }
  return stored;
}

}  // namespace heed
