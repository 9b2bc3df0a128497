#include "engine/graph.h"

#include <heed/error.h>

#include <fmt/format.h>

namespace heed::ir {

std::string Dim::str() const {
  if (is_known()) return std::to_string(value);
  return sym.empty() ? "?" : sym;
}

std::string shape_str(const SymShape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + shape[i].str();
  return s + "]";
}

SymShape to_sym(const Shape& shape) {
  SymShape s;
  for (int64_t d : shape) s.push_back(Dim::known(d));
  return s;
}

bool all_known(const SymShape& shape) {
  for (const Dim& d : shape)
    if (!d.is_known()) return false;
  return true;
}

Shape to_shape(const SymShape& shape) {
  Shape s;
  for (const Dim& d : shape) s.push_back(d.value);
  return s;
}

std::string ValueType::str() const { return std::string(dtype_name(dtype)) + shape_str(shape); }

std::string Node::where() const { return fmt::format("node '{}' ({})", name, op); }

template <typename T>
static const T& get_attr(const Node& node, const std::string& key) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end()) throw Error(fmt::format("{}: missing attribute '{}'", node.where(), key));
  if (auto* v = std::get_if<T>(&it->second)) return *v;
  throw Error(fmt::format("{}: attribute '{}' has the wrong type", node.where(), key));
}

int64_t Node::attr_int(const std::string& key) const { return get_attr<int64_t>(*this, key); }
double Node::attr_float(const std::string& key) const { return get_attr<double>(*this, key); }
const std::string& Node::attr_string(const std::string& key) const {
  return get_attr<std::string>(*this, key);
}
const std::vector<int64_t>& Node::attr_ints(const std::string& key) const {
  return get_attr<std::vector<int64_t>>(*this, key);
}

}  // namespace heed::ir
