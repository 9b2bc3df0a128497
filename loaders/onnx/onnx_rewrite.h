#pragma once
// What the fusions on an imported graph share (onnx_attention.cc, onnx_mha.cc):
// which node makes and which nodes read each value, the types and constants they
// look at, and the nodes a fusion took in, dropped at the end.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/weights.h"

namespace heed::onnx_import {

class GraphRewrite {
 public:
  // A graph output's reader (never fused away).
  static constexpr size_t kGraphOutput = SIZE_MAX;

  GraphRewrite(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types);

  // The node making `value`, when it is an `op` not yet taken and the value's only reader is one node.
  ir::Node* sole_producer(const std::string& value, const char* op);
  // The one node reading `value`, when it is an `op` (and the value is not a graph output).
  ir::Node* sole_reader(const std::string& value, const char* op);
  const std::vector<size_t>& readers(const std::string& value) { return readers_[value]; }
  // The node making `value`; null for graph inputs, weights and constants.
  const ir::Node* producer(const std::string& value) const {
    auto p = producer_.find(value);
    return p == producer_.end() ? nullptr : &g_.nodes[p->second];
  }
  size_t index(const ir::Node& n) const { return size_t(&n - g_.nodes.data()); }

  // A one-element f32 constant's value.
  std::optional<float> scalar(const std::string& value) const;
  // The type of a value the graph computes, or of a weight.
  std::optional<ir::ValueType> type(const std::string& value) const;
  // The rank of an f32 value, -1 for anything else.
  int f32_rank(const std::string& value) const;

  void take(size_t node) { taken_[node] = true; }
  void take(const std::vector<size_t>& nodes) {
    for (size_t i : nodes) take(i);
  }
  // Removes the nodes taken.
  void drop_taken();

 private:
  ir::Graph& g_;
  const WeightStore& weights_;
  const std::map<std::string, ir::ValueType>& types_;
  std::vector<bool> taken_;
  std::map<std::string, std::vector<size_t>> readers_;
  std::map<std::string, size_t> producer_;
};

// A fusion: fuse() tries each node of one op in turn, taking what it fuses.
class Fusion {
 public:
  Fusion(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types)
      : g_(g), rw_(g, weights, types) {}
  virtual ~Fusion() = default;
  // Tries every `op` node, then drops what was taken; returns how many fused.
  int run(const char* op);

 protected:
  virtual bool fuse(size_t node) = 0;
  ir::Graph& g_;
  GraphRewrite rw_;
};

// A node's string attribute, or `fallback` when the importer left it out.
std::string attr_or(const ir::Node& n, const std::string& key, const std::string& fallback);

// `g` without the nodes whose outputs nothing reads (after folding, fusing or
// rewriting) and the parameters only they read.
ir::Graph without_unread_nodes(ir::Graph g);

}  // namespace heed::onnx_import
