#include "engine/graph.h"

#include <heed/error.h>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

Dim Element::dim() const {
  if (known) return value >= 0 ? Dim::known(value) : Dim{};
  return Dim{-1, sym};
}

ValueType type_of(const Tensor& t) {
  ValueType type{t.dtype(), to_sym(t.shape())};
  bool integral = t.dtype() == DType::i64 || t.dtype() == DType::i32 || t.dtype() == DType::boolean;
  if (!integral || t.numel() > kMaxTrackedElements || t.device() != Device::cpu || (t.numel() && !t.data()))
    return type;
  Elements e;
  for (int64_t i = 0; i < t.numel(); ++i)
    e.push_back(Element::of(t.dtype() == DType::i64   ? t.data_as<int64_t>()[i]
                            : t.dtype() == DType::i32 ? int64_t(t.data_as<int32_t>()[i])
                                                      : int64_t(t.data_as<uint8_t>()[i] != 0)));
  type.elements = std::move(e);
  return type;
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

std::string chosen_graph(const std::vector<std::string>& names, const std::string& wanted, const std::string& model) {
  const auto named = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  if (!wanted.empty() && named(wanted)) return wanted;
  if (wanted.empty() && names.size() == 1) return names[0];
  if (wanted.empty() && named("main")) return "main";
  throw Error(fmt::format("{}: {} (graphs: {})", model,
                          wanted.empty() ? "several graphs and none named 'main': choose one (--graph)"
                                         : fmt::format("no graph named '{}'", wanted),
                          fmt::join(names, ", ")));
}

}  // namespace heed::ir
