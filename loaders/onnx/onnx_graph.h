#pragma once
// The state of one ONNX graph's import, and what an op's translator sees of it.
// Values are known (initializers, Constant outputs, shape arithmetic folded at
// load), heed values (graph inputs, outputs of emitted nodes), or deferred: a
// value heed cannot compute at load, kept with the reason, which becomes the
// error only if a node that heed runs needs it.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "loaders/onnx/onnx_proto.h"

#include "engine/graph.h"
#include "engine/weights.h"
#include "loaders/graph_builder.h"

namespace heed::onnx_import {

class OnnxGraph;

// One ONNX node being translated into heed nodes (or folded into constants).
class NodeContext {
 public:
  NodeContext(OnnxGraph& g, const NodeProto& node) : g_(g), node_(node) {}
  const NodeProto& node() const { return node_; }
  int64_t opset() const;
  size_t inputs() const { return size_t(node_.input.size()); }
  bool has_input(size_t i) const { return i < inputs() && !node_.input[i].empty(); }
  const std::string& input_name(size_t i) const { return node_.input[i]; }
  const std::string& output_name(size_t i = 0) const { return node_.output[i]; }
  const std::string& label() const;  // the node's name, or its first output's when it has none
  bool has_output(size_t i) const { return i < node_.output.size() && !node_.output[i].empty(); }

  // The heed value for input i (a known tensor becomes a weight on first use).
  std::string input(size_t i);
  const Tensor* known(size_t i) const;           // null unless known at load
  std::vector<int64_t> ints(size_t i) const;     // a known integer input, or fail()
  std::optional<ir::ValueType> type(size_t i) const;  // inferred by heed's shape rules
  int rank(size_t i) const;                      // fail() when unknown

  bool has_attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback) const;
  std::string attr_string(const std::string& name, std::string fallback) const;
  const AttributeProto* attr(const std::string& name) const;

  // Adds a heed node; its outputs default to the ONNX node's.
  void emit(const std::string& op, std::vector<std::string> inputs, std::map<std::string, ir::AttrValue> attrs = {},
            std::vector<std::string> outputs = {});
  std::string temp(const std::string& suffix) const;  // a fresh value name for a multi-node translation
  std::string weight(const std::string& name, Tensor t);  // a tensor the importer made, as a weight
  void set_known(size_t output, Tensor t);
  void alias(size_t output, const std::string& value);  // output i is `value` itself
  [[noreturn]] void fail(const std::string& message) const;

  OnnxGraph& graph() { return g_; }

 private:
  OnnxGraph& g_;
  const NodeProto& node_;
  int emitted_ = 0;
};

class OnnxGraph {
 public:
  OnnxGraph(std::string path, ModelProto& model, WeightStore& weights);
  ir::Graph import();

  // For NodeContext and the translators.
  std::string path_, dir_;
  int64_t opset_ = 0;
  ModelProto& model_;
  WeightStore& weights_;
  GraphBuilder builder_{"main"};
  std::map<std::string, Tensor> known_;
  std::map<std::string, std::string> alias_;          // ONNX value -> the heed value it is
  std::map<std::string, std::string> deferred_;       // ONNX value -> why heed cannot compute it
  std::map<std::string, ir::ValueType> types_;        // of graph inputs and emitted nodes' outputs
  std::map<std::string, std::vector<int>> consumers_; // value -> indices of the nodes reading it
  std::map<std::string, int> producers_;              // value -> index of the node writing it
  std::set<int> fused_;                               // nodes a fusion already covered
  int current_ = 0;                                   // the node being translated
  std::set<std::string> materialized_;
  int unknown_dims_ = 0;                              // unnamed dims named so far
  std::set<std::string> input_dims_;                  // the dims graph inputs name

  // `t` with each dim the shape rules could not name (a Slice to a computed end,
  // a broadcast of two different dims) named "?N" afresh: the values computed
  // from it share the name, so fusions can prove dims equal ([B, ?1, E] split
  // into heads and merged back) where "unknown" would prove nothing.
  ir::ValueType named_unknowns(ir::ValueType t);

  std::string resolve(const std::string& value) const;
  // A small integer tensor whose elements its type knows (and not a graph output), as a constant.
  std::optional<Tensor> constant_of(const ir::ValueType& t, const std::string& value) const;
  // The one node reading `value` (none when it is also a graph output or read twice).
  const NodeProto* sole_consumer(const std::string& value, int* index = nullptr) const;

 private:
  void read_inputs_and_initializers();
  void translate(int index);
  std::optional<std::map<std::string, ir::ValueType>> fused_types(const ir::Graph& graph);
};

}  // namespace heed::onnx_import
