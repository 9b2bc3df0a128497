// Exporters read a dim where they happen to have it: `q.size(2)` of the heads
// the attention block made, to reshape its context back. Such a read ties the
// head split to a Shape node and keeps the block from fusing into one op, so
// every Gather(Shape(v), i) of a named dim moves to the first value the dim
// appears in (a graph input, or the value where the shape rules named it):
// equal by the rules that named it, and never inside a block a fusion removes.
#include <fmt/format.h>

#include <algorithm>

#include "loaders/onnx/onnx_attention.h"
#include "loaders/onnx/onnx_rewrite.h"

namespace heed::onnx_import {
namespace {

struct DimSource {
  std::string value;
  int64_t axis = 0;
};

// Where each named dim first appears: graph inputs, then node outputs in order.
std::map<std::string, DimSource> first_appearances(const ir::Graph& g,
                                                   const std::map<std::string, ir::ValueType>& types) {
  std::map<std::string, DimSource> first;
  auto note = [&](const std::string& value, const ir::ValueType& t) {
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (!t.shape[d].is_known()) first.emplace(t.shape[d].sym, DimSource{value, int64_t(d)});
  };
  for (const ir::GraphInput& in : g.inputs) note(in.name, in.type);
  for (const ir::Node& n : g.nodes)
    for (const std::string& out : n.outputs)
      if (auto t = types.find(out); t != types.end()) note(out, t->second);
  first.erase("");
  return first;
}

// The index a Gather of a shape reads: a one-element integer constant, and its shape.
std::optional<std::pair<int64_t, Shape>> one_index(const ir::Graph& g, const WeightStore& weights,
                                                   const std::string& value) {
  const Tensor* t = weights.find(value);
  for (const ir::Parameter& p : g.parameters)
    if (p.name == value) t = weights.find(p.weight);
  for (const ir::Constant& c : g.constants)
    if (c.name == value) t = &c.value;
  if (!t || t->numel() != 1 || t->shape().rank() > 1 || t->dtype() != DType::i64) return std::nullopt;
  return std::pair{t->data_as<int64_t>()[0], t->shape()};
}

}  // namespace

int move_dim_reads(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types) {
  const std::map<std::string, DimSource> first = first_appearances(g, types);
  GraphRewrite rw(g, weights, types);
  std::map<std::string, std::string> shape_of;  // source value -> its new Shape node's output
  std::vector<std::pair<size_t, ir::Node>> inserts;  // before node index
  int moved = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& gather = g.nodes[i];
    if (gather.op != "Gather" || gather.inputs.size() != 2 || gather.attr_int("axis") != 0) continue;
    const ir::Node* shape_node = rw.producer(gather.inputs[0]);
    if (!shape_node || shape_node->op != "Shape" || shape_node->attr_int("start") != 0) continue;
    const ir::Node& shape = *shape_node;
    std::optional<ir::ValueType> of = rw.type(shape.inputs[0]);
    std::optional<std::pair<int64_t, Shape>> index = one_index(g, weights, gather.inputs[1]);
    if (!of || !index || index->first < -of->rank() || index->first >= of->rank()) continue;
    const ir::Dim& dim = of->shape[size_t(index->first < 0 ? index->first + of->rank() : index->first)];
    auto source = first.find(dim.sym);
    if (dim.is_known() || source == first.end() || source->second.value == shape.inputs[0]) continue;
    auto [it, fresh] = shape_of.emplace(source->second.value, source->second.value + "/dims");
    if (fresh) inserts.push_back({i, ir::Node{.name = it->second, .op = "Shape", .inputs = {source->second.value},
                                              .outputs = {it->second}, .attrs = shape.attrs}});
    const std::string axis = fmt::format("{}/axis{}{}", it->second, source->second.axis, index->second.str());
    if (std::none_of(g.constants.begin(), g.constants.end(), [&](const ir::Constant& c) { return c.name == axis; })) {
      Tensor t = Tensor::empty(DType::i64, index->second);
      t.data_as<int64_t>()[0] = source->second.axis;
      g.constants.push_back({axis, std::move(t)});
    }
    gather.inputs = {it->second, axis};
    ++moved;
  }
  for (auto at = inserts.rbegin(); at != inserts.rend(); ++at)
    g.nodes.insert(g.nodes.begin() + std::ptrdiff_t(at->first), std::move(at->second));
  return moved;
}

}  // namespace heed::onnx_import
