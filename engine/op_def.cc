#include "engine/op_def.h"

#include <heed/error.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "ops/all_ops.h"

namespace heed::ir {

InferContext::InferContext(const Node& node, std::vector<const ValueType*> inputs)
    : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs.size()), elements_set_(outputs_.size()) {}

std::vector<ValueType>& InferContext::outputs() {
  for (size_t i = 0; i < outputs_.size(); ++i)
    if (!elements_set_[i]) outputs_[i].elements.reset();
  return outputs_;
}

const Elements* InferContext::elements(size_t i) const {
  return has_input(i) && inputs_[i]->elements ? &*inputs_[i]->elements : nullptr;
}

void InferContext::set_elements(size_t out, Elements e) {
  if (int64_t(e.size()) > kMaxTrackedElements) return;
  outputs_.at(out).elements = std::move(e);
  elements_set_[out] = true;
}

std::optional<std::vector<int64_t>> InferContext::known_ints(size_t i) const {
  const Elements* e = elements(i);
  if (!e) return std::nullopt;
  std::vector<int64_t> v;
  for (const Element& x : *e) {
    if (!x.known) return std::nullopt;
    v.push_back(x.value);
  }
  return v;
}

const ValueType& InferContext::in(size_t i) const {
  if (!has_input(i)) fail(fmt::format("input {} is required", i));
  return *inputs_[i];
}

void InferContext::fail(const std::string& message) const {
  throw Error(fmt::format("{}: {}", node_.where(), message));
}

int InferContext::axis(int64_t axis, int rank) const {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(fmt::format("axis {} is out of range for rank {}", axis, rank));
  return int(a);
}

void InferContext::expect_dtype(size_t input, std::initializer_list<DType> allowed) const {
  DType d = in(input).dtype;
  if (std::find(allowed.begin(), allowed.end(), d) != allowed.end()) return;
  std::vector<std::string_view> names;
  for (DType a : allowed) names.push_back(dtype_name(a));
  fail(fmt::format("input {} '{}' has dtype {}, expected {}", input, node_.inputs[input],
                   dtype_name(d), fmt::join(names, " or ")));
}

void InferContext::expect_rank_at_least(size_t input, int rank) const {
  if (in(input).rank() < rank)
    fail(fmt::format("input {} '{}' has shape {}, expected rank >= {}", input, node_.inputs[input],
                     shape_str(in(input).shape), rank));
}

Dim InferContext::unify(const Dim& a, const Dim& b, const std::string& what) const {
  if (a.is_known() && b.is_known()) {
    if (a.value != b.value) fail(fmt::format("{} disagree: {} vs {}", what, a.value, b.value));
    return a;
  }
  if (a.is_known()) return a;
  if (b.is_known()) return b;
  return a.sym == b.sym ? a : Dim{};
}

SymShape InferContext::broadcast(const SymShape& a, const SymShape& b) const {
  size_t rank = std::max(a.size(), b.size());
  SymShape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    Dim da = i < rank - a.size() ? Dim::known(1) : a[i - (rank - a.size())];
    Dim db = i < rank - b.size() ? Dim::known(1) : b[i - (rank - b.size())];
    if (da.is_known() && da.value == 1) out[i] = db;
    else if (db.is_known() && db.value == 1) out[i] = da;
    else if (da.is_known() && db.is_known() && da.value != db.value)
      fail(fmt::format("shapes {} and {} cannot be broadcast together", shape_str(a), shape_str(b)));
    else out[i] = unify(da, db, "broadcast dims");
  }
  return out;
}

namespace {
using OpTable = std::map<std::string, OpDef, std::less<>>;
OpTable& storage() {
  static OpTable table;
  return table;
}
// The op definitions register on first use (thread-safe static init), so no
// static-initializer order or linker dead-stripping can lose one.
const OpTable& ops() {
  static const bool registered = (heed::ops::register_all_ops(), true);
  (void)registered;
  return storage();
}
}  // namespace

void register_op(OpDef def) { storage()[def.name] = std::move(def); }

const OpDef* find_op(std::string_view name) {
  auto it = ops().find(name);
  return it == ops().end() ? nullptr : &it->second;
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const auto& entry : ops()) names.push_back(entry.first);
  return names;
}

}  // namespace heed::ir
