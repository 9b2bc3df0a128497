#include "ops/elements.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace heed::ops {
using namespace ir;

namespace {

std::optional<Shape> known_shape(const SymShape& s) {
  if (!all_known(s)) return std::nullopt;
  return to_shape(s);
}

// Flat index into a broadcast operand of shape `in` for the flat output index `i` of shape `out`.
int64_t broadcast_index(int64_t i, const Shape& out, const Shape& in) {
  int64_t index = 0, stride = 1;
  for (int d = out.rank() - 1, k = in.rank() - 1; d >= 0; --d, --k) {
    int64_t coord = i % out[d];
    i /= out[d];
    if (k >= 0) {
      if (in[k] != 1) index += coord * stride;
      stride *= in[k];
    }
  }
  return index;
}

bool is_dim(const Element& e) { return !e.known && !e.sym.empty(); }  // a graph dim: >= 0 at run time

using Rule = std::function<Element(const std::vector<const Element*>&)>;

Element arithmetic(const std::string& op, const Element& a, const Element& b) {
  if (a.known && b.known) {
    int64_t r = 0;
    bool overflow = op == "Add"   ? __builtin_add_overflow(a.value, b.value, &r)
                    : op == "Sub" ? __builtin_sub_overflow(a.value, b.value, &r)
                    : op == "Mul" ? __builtin_mul_overflow(a.value, b.value, &r)
                                  : (r = op == "Maximum" ? std::max(a.value, b.value) : std::min(a.value, b.value),
                                     false);
    return overflow ? Element{} : Element::of(r);
  }
  auto is = [](const Element& e, int64_t v) { return e.known && e.value == v; };
  if (op == "Add") return is(a, 0) ? b : is(b, 0) ? a : Element{};
  if (op == "Sub") return is(b, 0) ? a : (is_dim(a) && a == b) ? Element::of(0) : Element{};
  if (op == "Mul") return is(a, 1) ? b : is(b, 1) ? a : (is(a, 0) || is(b, 0)) ? Element::of(0) : Element{};
  return is_dim(a) && a == b ? a : Element{};  // Maximum, Minimum
}

// A comparison of a graph dim (never negative) with a negative number is known:
// exporters write Where(Equal(shape, -1), 1, shape) to read Expand targets.
Element comparison(const std::string& op, const Element& a, const Element& b) {
  auto result = [](bool v) { return Element::of(v); };
  if (a.known && b.known) {
    int64_t x = a.value, y = b.value;
    if (op == "Equal") return result(x == y);
    if (op == "Less") return result(x < y);
    if (op == "Greater") return result(x > y);
    if (op == "LessOrEqual") return result(x <= y);
    return result(x >= y);
  }
  if (is_dim(a) && a == b)
    return result(op == "Equal" || op == "LessOrEqual" || op == "GreaterOrEqual");
  bool dim_vs_negative = (is_dim(a) && b.known && b.value < 0) || (is_dim(b) && a.known && a.value < 0);
  if (!dim_vs_negative) return Element{};
  bool a_is_dim = is_dim(a);
  if (op == "Equal") return result(false);
  bool greater = op == "Greater" || op == "GreaterOrEqual";
  return result(a_is_dim == greater);  // dim > negative
}

Element logic(const std::string& op, const Element& a, const Element& b) {
  if (!a.known || !b.known) {
    if (op == "And" && ((a.known && !a.value) || (b.known && !b.value))) return Element::of(0);
    if (op == "Or" && ((a.known && a.value) || (b.known && b.value))) return Element::of(1);
    return Element{};
  }
  bool x = a.value != 0, y = b.value != 0;
  return Element::of(op == "And" ? x && y : op == "Or" ? x || y : x != y);
}

Rule rule_for(const std::string& op) {
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Maximum" || op == "Minimum")
    return [op](const auto& in) { return arithmetic(op, *in[0], *in[1]); };
  if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual")
    return [op](const auto& in) { return comparison(op, *in[0], *in[1]); };
  if (op == "And" || op == "Or" || op == "Xor") return [op](const auto& in) { return logic(op, *in[0], *in[1]); };
  if (op == "Not")
    return [](const auto& in) { return in[0]->known ? Element::of(in[0]->value == 0) : Element{}; };
  if (op == "Where")
    return [](const auto& in) {
      if (in[0]->known) return in[0]->value ? *in[1] : *in[2];
      return *in[1] == *in[2] ? *in[1] : Element{};
    };
  if (op == "Expand") return [](const auto& in) { return *in[0]; };
  return nullptr;
}

}  // namespace

void pass_elements(InferContext& c, size_t from) {
  if (const Elements* e = c.elements(from)) c.set_elements(0, *e);
}

void broadcast_elements(InferContext& c, const std::string& op) {
  Rule rule = rule_for(op);
  size_t n = op == "Where" ? 3 : op == "Not" || op == "Expand" ? 1 : 2;
  auto out = known_shape(c.out(0).shape);
  if (!rule || !out || out->numel() > kMaxTrackedElements) return;
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n; ++i) {
    auto s = known_shape(c.in(i).shape);
    if (!c.elements(i) || !s) return;
    shapes.push_back(*s);
  }
  Elements result;
  for (int64_t i = 0; i < out->numel(); ++i) {
    std::vector<const Element*> args;
    for (size_t k = 0; k < n; ++k) args.push_back(&(*c.elements(k))[size_t(broadcast_index(i, *out, shapes[k]))]);
    result.push_back(rule(args));
  }
  c.set_elements(0, std::move(result));
}

void gather_elements(InferContext& c, int axis) {
  auto data = known_shape(c.in(0).shape);
  auto indices = c.known_ints(1);
  const Elements* e = c.elements(0);
  if (!data || !indices || !e) return;
  int64_t outer = 1, inner = 1, n = (*data)[axis];
  for (int d = 0; d < axis; ++d) outer *= (*data)[d];
  for (int d = axis + 1; d < data->rank(); ++d) inner *= (*data)[d];
  Elements out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t index : *indices) {
      if (index < -n || index >= n) c.fail(fmt::format("index {} is out of range for dim {} of size {}", index, axis, n));
      if (index < 0) index += n;
      for (int64_t i = 0; i < inner; ++i) out.push_back((*e)[size_t((o * n + index) * inner + i)]);
    }
  c.set_elements(0, std::move(out));
}

void concat_elements(InferContext& c, int axis) {
  std::vector<int64_t> chunk;  // each input's elements per outer index
  int64_t outer = 1;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    auto s = known_shape(c.in(i).shape);
    if (!s || !c.elements(i)) return;
    int64_t o = 1, k = 1;
    for (int d = 0; d < s->rank(); ++d) (d < axis ? o : k) *= (*s)[d];
    outer = o;
    chunk.push_back(k);
  }
  Elements out;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < c.num_inputs(); ++i)
      for (int64_t k = 0; k < chunk[i]; ++k) out.push_back((*c.elements(i))[size_t(o * chunk[i] + k)]);
  c.set_elements(0, std::move(out));
}

Elements shape_operand(InferContext& c, size_t i) {
  const ValueType& t = c.in(i);
  if (t.dtype != DType::i64 && t.dtype != DType::i32)
    c.fail(fmt::format("shape input '{}' is {}, expected an i64 or i32 vector", c.node().inputs[i], t.str()));
  if (t.rank() != 1 || !t.shape[0].is_known())
    c.fail(fmt::format("shape input '{}' is {}: its length must be known", c.node().inputs[i], t.str()));
  if (t.shape[0].value > Shape::kMaxRank)
    c.fail(fmt::format("shape input '{}' has {} entries, above heed's maximum rank {}", c.node().inputs[i],
                       t.shape[0].value, Shape::kMaxRank));
  if (const Elements* e = c.elements(i)) return *e;
  return Elements(size_t(t.shape[0].value));
}

}  // namespace heed::ops
