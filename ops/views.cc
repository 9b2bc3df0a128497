// View ops: same bytes, another shape. Their outputs alias their input.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "engine/checked.h"
#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/elements.h"

namespace heed::ops {
using namespace ir;

static std::string spec_str(const Elements& spec) {
  std::string s;
  for (const Element& e : spec) s += (s.empty() ? "" : ", ") + (e.known ? std::to_string(e.value) : e.dim().str());
  return s;
}

// The -1 of a reshape between symbolic shapes whose named dims cancel
// ([batch, seq, 32] -> [batch, seq, -1, 8] infers 4): the quotient of the known
// dims when every named dim of the target is one of the input's and none is
// left over, the one left over when the known dims cancel too; unknown otherwise.
static Dim inferred_by_symbols(const SymShape& x, const SymShape& out, int infer_at) {
  std::multiset<std::string> left;
  int64_t in_known = 1, out_known = 1;
  for (const Dim& d : x) {
    if (!d.is_known() && d.sym.empty()) return Dim{};
    if (d.is_known()) in_known *= d.value;  // bounded: the input passed its size check
    else left.insert(d.sym);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (int(i) == infer_at) continue;
    const Dim& d = out[i];
    if (d.is_known()) out_known *= d.value;  // bounded: the caller checked the product
    else if (auto it = left.find(d.sym); !d.sym.empty() && it != left.end()) left.erase(it);
    else return Dim{};
  }
  if (out_known == 0 || in_known % out_known) return Dim{};
  if (left.empty()) return Dim::known(in_known / out_known);
  // One named dim left and nothing else: it ([batch, seq] -> [-1, seq] is [batch, seq]).
  if (left.size() == 1 && in_known == out_known) return Dim::symbol(*left.begin());
  return Dim{};
}

// ONNX-style target shape (the `shape` attribute, or input 1 computed by the
// graph): 0 keeps the input dim (or, with allowzero, is a dim of 0), -1 is
// inferred (at most one).
static void infer_reshape(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  const bool allowzero = c.node().attr_int("allowzero") != 0;
  Elements spec;
  if (c.has_input(1)) spec = shape_operand(c, 1);
  else for (int64_t d : c.node().attr_ints("shape")) spec.push_back(Element::of(d));
  SymShape out;
  int infer_at = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (!spec[i].known) {
      out.push_back(spec[i].dim());
    } else if (spec[i].value == -1) {
      if (infer_at >= 0) c.fail("shape " + spec_str(spec) + " has two -1");
      infer_at = int(i);
      out.push_back(Dim{});
    } else if (spec[i].value == 0 && !allowzero) {
      if (i >= x.size()) c.fail(fmt::format("shape entry {} is 0 but the input has rank {}", i, x.size()));
      out.push_back(x[i]);
    } else if (spec[i].value >= 0) {
      out.push_back(Dim::known(spec[i].value));
    } else {
      c.fail(fmt::format("shape entry {} is {}", i, spec[i].value));
    }
  }
  int64_t in_numel = 1, out_known = 1;
  bool in_known = all_known(x), rest_known = true;
  for (const Dim& d : x) in_numel *= d.is_known() ? d.value : 1;  // bounded: the input passed its size check
  for (size_t i = 0; i < out.size(); ++i)
    if (int(i) != infer_at) {
      if (!out[i].is_known()) rest_known = false;
      else if (auto m = checked_mul(out_known, out[i].value); m && *m <= kMaxTensorBytes) out_known = *m;
      else c.fail("cannot reshape " + shape_str(x) + " to " + shape_str(out) + ": the element count overflows");
    }
  if (infer_at >= 0 && !(in_known && rest_known)) out[infer_at] = inferred_by_symbols(x, out, infer_at);
  if (in_known && rest_known) {
    if (infer_at >= 0) {
      if (out_known == 0 || in_numel % out_known)
        c.fail("cannot reshape " + shape_str(x) + " to [" + spec_str(spec) + "]");
      out[infer_at] = Dim::known(in_numel / out_known);
    } else if (out_known != in_numel) {
      c.fail("cannot reshape " + shape_str(x) + " to " + shape_str(out));
    }
  }
  c.out(0) = {c.in(0).dtype, out};
  pass_elements(c);
}

static void infer_squeeze(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  std::vector<bool> drop(x.size(), false);
  const auto& axes = c.node().attr_ints("axes");
  for (int64_t a : axes) {
    int ax = c.axis(a, int(x.size()));
    if (x[ax].is_known() && x[ax].value != 1) c.fail(fmt::format("cannot squeeze axis {} of size {}", a, x[ax].value));
    drop[ax] = true;
  }
  if (axes.empty())
    for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i].is_known() && x[i].value == 1;
  SymShape out;
  for (size_t i = 0; i < x.size(); ++i)
    if (!drop[i]) out.push_back(x[i]);
  c.out(0) = {c.in(0).dtype, out};
  pass_elements(c);
}

static void infer_unsqueeze(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  auto axes = c.node().attr_ints("axes");
  int rank = int(x.size() + axes.size());
  std::vector<bool> inserted(rank, false);
  for (int64_t a : axes) {
    int ax = c.axis(a, rank);
    if (inserted[ax]) c.fail(fmt::format("axis {} appears twice", a));
    inserted[ax] = true;
  }
  SymShape out;
  size_t next = 0;
  for (int i = 0; i < rank; ++i) out.push_back(inserted[i] ? Dim::known(1) : x[next++]);
  c.out(0) = {c.in(0).dtype, out};
  pass_elements(c);
}

void register_views() {
  register_op(OpDef{.name = "Reshape",
                    .max_inputs = 2,
                    .attrs = {{"shape", AttrType::Ints, std::nullopt, {}, 1}, {"allowzero", AttrType::Int, int64_t{0}}},
                    .infer = infer_reshape,
                    .output_is_view = true});
  register_op(OpDef{.name = "Squeeze",
                    .attrs = {{"axes", AttrType::Ints, std::vector<int64_t>{}}},
                    .infer = infer_squeeze,
                    .output_is_view = true});
  register_op(OpDef{.name = "Unsqueeze",
                    .attrs = {{"axes", AttrType::Ints, std::nullopt}},
                    .infer = infer_unsqueeze,
                    .output_is_view = true});
}

}  // namespace heed::ops
