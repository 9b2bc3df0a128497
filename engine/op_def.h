#pragma once
// What an op is, apart from any kernel: its arity, its attributes with their
// types and defaults, and its shape/dtype rule. Definitions live in ops/.
#include "engine/graph.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heed::ir {

enum class AttrType { Int, Float, String, Ints, Floats, Bool };

struct AttrSpec {
  std::string name;
  AttrType type;
  std::optional<AttrValue> default_value;  // nullopt: required
  std::vector<std::string> choices = {};   // for String: the allowed values
  // A required attribute that input `given_by_input` may give instead (a
  // Reshape's target computed by the graph); -1: none may.
  int given_by_input = -1;
};

class InferContext;

struct OpDef {
  std::string name;
  int min_inputs = 1, max_inputs = 1;
  int min_outputs = 1, max_outputs = 1;
  std::vector<AttrSpec> attrs;
  std::function<void(InferContext&)> infer;
  // A view op's output shares its first input's bytes (Reshape, Squeeze, ...).
  bool output_is_view = false;
  // Inputs the op updates in place (a KV cache). They must be graph inputs: the
  // caller owns them and keeps them between runs.
  std::vector<int> mutated_inputs = {};
  // Where the op multiplies by a constant input as a projection weight (its bf16
  // and int8 kernels pack it per output channel): that input's channel axis, else
  // -1. `constants`: per input, the constant or nullptr. What `heed quantize`
  // stores in int8 or bf16 (engine/quantize.h).
  std::function<int(const Node&, size_t input, const std::vector<const Tensor*>& constants)> weight_axis = {};
};

// Passed to an op's shape rule: the node, its input types, its output types to fill.
class InferContext {
 public:
  InferContext(const Node& node, std::vector<const ValueType*> inputs);

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const ValueType& in(size_t i) const;
  ValueType& out(size_t i) { return outputs_.at(i); }
  // The outputs once the rule has run: an output keeps elements only when the
  // rule set them (a rule that copies an input's type does not pass them on).
  std::vector<ValueType>& outputs();

  // Shape arithmetic: input i's elements when its type knows them (else null),
  // and the elements of output i. Outputs over kMaxTrackedElements are not tracked.
  const Elements* elements(size_t i) const;
  void set_elements(size_t out, Elements e);
  // Input i's elements, all known (an integer shape operand at bind time), or nullopt.
  std::optional<std::vector<int64_t>> known_ints(size_t i) const;

  [[noreturn]] void fail(const std::string& message) const;  // "node 'x' (Op): message"
  int axis(int64_t axis, int rank) const;                     // negative axes count from the end
  void expect_dtype(size_t input, std::initializer_list<DType> allowed) const;
  void expect_rank_at_least(size_t input, int rank) const;
  // Dims that must agree: equal when both are known; the known one wins otherwise.
  Dim unify(const Dim& a, const Dim& b, const std::string& what) const;
  SymShape broadcast(const SymShape& a, const SymShape& b) const;  // numpy rules

 private:
  const Node& node_;
  std::vector<const ValueType*> inputs_;
  std::vector<ValueType> outputs_;
  std::vector<bool> elements_set_;
};

const OpDef* find_op(std::string_view name);
std::vector<std::string> op_names();
void register_op(OpDef def);

}  // namespace heed::ir
