#pragma once
// The graph IR: named values, typed attributes, op nodes. It knows nothing of
// backends; op definitions (ops/) give each node its meaning and shape rule.
#include <heed/tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace heed::ir {

// A dimension: known (value >= 0) or symbolic (value < 0, e.g. "batch"; an empty
// name means "known only at run time").
struct Dim {
  int64_t value = -1;
  std::string sym;

  static Dim known(int64_t v) { return Dim{v, {}}; }
  static Dim symbol(std::string name) { return Dim{-1, std::move(name)}; }
  bool is_known() const { return value >= 0; }
  std::string str() const;
  bool operator==(const Dim& o) const { return value == o.value && sym == o.sym; }
};

using SymShape = std::vector<Dim>;
std::string shape_str(const SymShape& shape);
SymShape to_sym(const Shape& shape);
bool all_known(const SymShape& shape);
Shape to_shape(const SymShape& shape);  // requires all_known

// One element of a small integer tensor, as shape rules know it before the
// kernels run: a number (possibly negative: a Reshape's -1), a named dim of a
// graph input (Shape of an input [batch, seq]), or unknown. Exported models
// compute shapes this way (Shape -> Gather -> Concat -> Reshape); knowing the
// elements lets Reshape, Expand, Slice, Range and ConstantOfShape say their
// output shapes, symbolically at load and exactly once a session's input
// shapes are bound.
struct Element {
  bool known = false;
  int64_t value = 0;
  std::string sym;  // when not known: the graph dim it equals, if any

  static Element of(int64_t v) { return Element{true, v, {}}; }
  static Element of(const Dim& d) { return d.is_known() ? of(d.value) : Element{false, 0, d.sym}; }
  Dim dim() const;  // as a dim: known when known and >= 0, else symbolic or unknown
  bool operator==(const Element& o) const { return known == o.known && value == o.value && sym == o.sym; }
};
using Elements = std::vector<Element>;

// The most elements a value's type tracks: shape vectors and scalars, not data.
constexpr int64_t kMaxTrackedElements = 64;

struct ValueType {
  DType dtype = DType::f32;
  SymShape shape;
  // For small integer and bool tensors whose elements the shape rules can tell
  // (constants, Shape and the arithmetic on it); nullopt otherwise.
  std::optional<Elements> elements = std::nullopt;
  int rank() const { return int(shape.size()); }
  std::string str() const;  // "f32[batch, 512]"
};

// A tensor's type, with its elements when it is a small integer or bool tensor.
ValueType type_of(const Tensor& t);

using AttrValue =
    std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

struct Node {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;   // "" marks an optional input left out
  std::vector<std::string> outputs;
  std::map<std::string, AttrValue> attrs;  // after validation: every declared attr, defaults filled
  // Trailing outputs added by the loader to capture attention weights (not in the
  // model file): kernels compute them without changing the declared outputs.
  int captured_outputs = 0;

  int64_t attr_int(const std::string& key) const;
  double attr_float(const std::string& key) const;
  const std::string& attr_string(const std::string& key) const;
  const std::vector<int64_t>& attr_ints(const std::string& key) const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  std::string where() const;  // "node 'fc1' (Linear)"
};

struct GraphInput {
  std::string name;
  ValueType type;
};

struct Parameter {
  std::string name;    // value name inside the graph
  std::string weight;  // tensor name in the model's weight store
};

struct Constant {
  std::string name;
  Tensor value;
};

struct Graph {
  std::string name;
  std::vector<GraphInput> inputs;
  std::vector<std::string> outputs;
  std::vector<Parameter> parameters;
  std::vector<Constant> constants;
  std::vector<Node> nodes;
  // Calibrated ranges [min, max] of activations (`heed quantize --calibrate`):
  // in int8, convolutions read and write these values quantized at a fixed
  // scale instead of measuring each run (docs/precision.md).
  std::map<std::string, std::pair<float, float>> activation_ranges;
};

// The graph that `wanted` names among `names` of the model file `model`: the
// only one, or "main", when `wanted` is empty. Throws heed::Error listing them.
std::string chosen_graph(const std::vector<std::string>& names, const std::string& wanted, const std::string& model);

}  // namespace heed::ir
