#pragma once
// A validated graph bound to a backend: values numbered, one kernel per node,
// and shape plans (concrete shapes + memory layout) cached per input signature.
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/constant_uses.h"
#include "engine/graph.h"
#include "engine/memory_plan.h"
#include "engine/weights.h"

namespace heed {

struct ValueSlot {
  enum class Kind { input, constant, node_output };
  std::string name;
  Kind kind = Kind::node_output;
  const Tensor* constant = nullptr;  // weights and graph constants
  bool is_graph_output = false;
  ir::ValueType type;                // load-time type
  std::string weight;                // a parameter: the weight it names
};

struct CompiledNode {
  const ir::Node* node = nullptr;
  std::vector<int> in_ids, out_ids;  // -1 for an optional input left out
  std::unique_ptr<Kernel> kernel;
  bool is_view = false;
};

class CompiledGraph {
 public:
  // `uses`: told of each kernel made (CPU models free the weights packed).
  CompiledGraph(ir::Graph graph, const std::map<std::string, ir::ValueType>& types,
                WeightStore& weights, const Backend& backend, DType gemm_dtype = DType::f32,
                ConstantUses* uses = nullptr, Precision precision = Precision::f32);

  const ir::Graph& graph() const { return graph_; }
  const std::vector<ValueSlot>& values() const { return values_; }
  const std::vector<CompiledNode>& nodes() const { return nodes_; }
  const std::vector<int>& input_ids() const { return input_ids_; }
  const std::vector<int>& output_ids() const { return output_ids_; }
  const Backend& backend() const { return backend_; }
  // Where the backend's kernels find constant value `id` (a device copy, made
  // once at load, when the backend is not the CPU).
  const void* constant_data(int id) const { return constant_ptrs_[size_t(id)]; }
  // Graph inputs that a node updates in place (KV caches).
  const std::vector<int>& mutated_input_ids() const { return mutated_input_ids_; }

  // Drops the pointers to the constants not in `read` (ConstantUses::read()),
  // whose data the model frees: a run never reads them (a null pointer if it did).
  void forget_constants_not_in(const std::set<const Tensor*>& read);

  // Shared by all sessions; built once per distinct list of input shapes.
  std::shared_ptr<const ShapePlan> plan_for(const std::vector<Shape>& input_shapes) const;

 private:
  int add_value(ValueSlot slot);
  void choose_layouts(ShapePlan& plan) const;
  std::string unresolved(const std::string& value, const ir::ValueType& t) const;
  KernelInit kernel_init(const ir::Node& n, CompiledNode& cn, DType gemm_dtype);
  const StoredWeight* stored(int id) const;
  void materialize(int id);
  void upload_constants();

  ir::Graph graph_;
  WeightStore& weights_;
  const Backend& backend_;
  Precision precision_;  // LoadOptions::precision: kernels take it, and the layouts follow it
  std::vector<ValueSlot> values_;
  std::map<std::string, int> ids_;
  std::vector<CompiledNode> nodes_;
  std::vector<int> input_ids_, output_ids_, mutated_input_ids_;
  std::vector<BackendBuffer> device_constants_;
  std::vector<const void*> constant_ptrs_;
  mutable std::mutex plans_mutex_;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const ShapePlan>> plans_;
};

}  // namespace heed
