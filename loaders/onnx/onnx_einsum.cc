// ONNX Einsum of one or two operands onto Transpose, ReduceSum, Unsqueeze,
// Reshape and one MatMul. For two operands each index is a batch index (in
// both and in the output), a contracted one (in both, not in the output), or
// belongs to one side (in one operand and the output; summed first when not in
// the output). The operands are laid out as [batch, a's free, b's free, m, k]
// and [batch, a's free, b's free, n, k] (size-1 dims where an operand lacks an
// index), the contracted indices merged into k, and MatMul with transpose_b
// broadcasts the rest: "bhid,bhjd->bhij", "bij,bjd->bid", "bnd,dh->bnh".
#include <fmt/format.h>

#include <algorithm>

#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

struct Term {
  std::string value;    // the heed value
  std::string indices;  // one letter per dim
};

std::vector<std::string> split_terms(NodeContext& c, const std::string& lhs) {
  std::vector<std::string> terms(1);
  for (char ch : lhs) {
    if (ch == ',') terms.emplace_back();
    else if (ch != ' ') terms.back() += ch;
  }
  for (const std::string& t : terms)
    for (char ch : t)
      if (!std::isalpha(static_cast<unsigned char>(ch)))
        c.fail(fmt::format("equation term '{}': only letters are imported (no ellipsis)", t));
  return terms;
}

// The implicit output: indices that appear once, in alphabetical order.
std::string implicit_output(const std::vector<std::string>& terms) {
  std::string all, out;
  for (const std::string& t : terms) all += t;
  for (char ch : all)
    if (std::count(all.begin(), all.end(), ch) == 1) out += ch;
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> permutation(const std::string& from, const std::string& to) {
  std::vector<int64_t> perm;
  for (char ch : to) perm.push_back(int64_t(from.find(ch)));
  return perm;
}

class Lowering {
 public:
  explicit Lowering(NodeContext& c) : c_(c) {}

  // x's dims rearranged to `to` (a permutation of x.indices), as a new value.
  Term transpose(const Term& x, const std::string& to) {
    if (x.indices == to) return x;
    return {emit("Transpose", {x.value}, {{"perm", permutation(x.indices, to)}}), to};
  }

  // Sums the indices of x that `keep` lacks.
  Term sum_out(const Term& x, const std::string& keep) {
    std::vector<int64_t> axes;
    std::string left;
    for (size_t i = 0; i < x.indices.size(); ++i) {
      if (keep.find(x.indices[i]) == std::string::npos) axes.push_back(int64_t(i));
      else left += x.indices[i];
    }
    if (axes.empty()) return x;
    return {emit("ReduceSum", {x.value}, {{"axes", axes}, {"keepdims", int64_t(0)}}), left};
  }

  // Inserts size-1 dims (named '1') so that x's layout is `layout` (x's indices in their order, '1' elsewhere).
  Term expand_to(const Term& x, const std::string& layout) {
    std::vector<int64_t> axes;
    for (size_t i = 0; i < layout.size(); ++i)
      if (x.indices.find(layout[i]) == std::string::npos) axes.push_back(int64_t(i));
    if (axes.empty()) return x;
    return {emit("Unsqueeze", {x.value}, {{"axes", axes}}), layout};
  }

  // Merges the last `count` dims into one (count 0: appends a dim of 1).
  std::string merge_last(const std::string& value, int rank, int count) {
    if (count == 1) return value;
    if (count == 0) return emit("Unsqueeze", {value}, {{"axes", std::vector<int64_t>{rank}}});
    std::vector<int64_t> spec(size_t(rank - count), 0);
    spec.push_back(-1);
    return emit("Reshape", {value}, {{"shape", spec}});
  }

  std::string emit(const std::string& op, std::vector<std::string> in, std::map<std::string, ir::AttrValue> attrs,
                   const std::string& out = "") {
    const std::string name = out.empty() ? c_.temp(fmt::format("einsum{}", ++count_)) : out;
    c_.emit(op, std::move(in), std::move(attrs), {name});
    return name;
  }

 private:
  NodeContext& c_;
  int count_ = 0;
};

void two_operands(NodeContext& c, Lowering& l, Term a, Term b, const std::string& out) {
  std::string batch, contracted, a_free, b_free;
  for (char ch : a.indices) {
    const bool in_b = b.indices.find(ch) != std::string::npos, in_out = out.find(ch) != std::string::npos;
    if (in_b && in_out) batch += ch;
    else if (in_b) contracted += ch;
    else if (in_out) a_free += ch;
  }
  for (char ch : b.indices)
    if (a.indices.find(ch) == std::string::npos && out.find(ch) != std::string::npos) b_free += ch;
  a = l.sum_out(a, batch + contracted + a_free);
  b = l.sum_out(b, batch + contracted + b_free);
  // a: [batch, a_free..., b_free as 1s, k...]; b: [batch, a_free as 1s, b_free..., k...]: the last of each
  // side's free indices is MatMul's m (n), the others broadcast as batch dims.
  const std::string m = a_free.empty() ? "" : a_free.substr(a_free.size() - 1);
  const std::string n = b_free.empty() ? "" : b_free.substr(b_free.size() - 1);
  const std::string a_rest = a_free.substr(0, a_free.size() - m.size()), b_rest = b_free.substr(0, b_free.size() - n.size());
  const std::string lead = batch + a_rest + b_rest;
  Term at = l.transpose(a, batch + a_rest + m + contracted), bt = l.transpose(b, batch + b_rest + n + contracted);
  at = l.expand_to(at, lead + (m.empty() ? "" : m) + contracted);
  bt = l.expand_to(bt, lead + (n.empty() ? "" : n) + contracted);
  const int a_rank = int(at.indices.size()), b_rank = int(bt.indices.size());
  std::string av = l.merge_last(at.value, a_rank, int(contracted.size()));
  std::string bv = l.merge_last(bt.value, b_rank, int(contracted.size()));
  const int a_kept = a_rank - int(contracted.size()) + 1, b_kept = b_rank - int(contracted.size()) + 1;
  if (m.empty()) av = l.emit("Unsqueeze", {av}, {{"axes", std::vector<int64_t>{a_kept - 1}}});  // m of 1
  if (n.empty()) bv = l.emit("Unsqueeze", {bv}, {{"axes", std::vector<int64_t>{b_kept - 1}}});
  std::string product = l.emit("MatMul", {av, bv}, {{"transpose_b", int64_t(1)}});
  // product: [lead..., m or 1, n or 1]; drop the 1s, then the output's order.
  std::vector<int64_t> ones;
  const int rank = int(lead.size()) + 2;
  if (m.empty()) ones.push_back(rank - 2);
  if (n.empty()) ones.push_back(rank - 1);
  std::string result = lead + m + n;
  if (!ones.empty()) product = l.emit("Squeeze", {product}, {{"axes", ones}});
  if (result == out) return c.alias(0, product);
  l.emit("Transpose", {product}, {{"perm", permutation(result, out)}}, c.output_name());
}

void einsum(NodeContext& c) {
  std::string equation = c.attr_string("equation", "");
  std::string lhs = equation, out;
  if (size_t arrow = equation.find("->"); arrow != std::string::npos) {
    lhs = equation.substr(0, arrow);
    for (char ch : equation.substr(arrow + 2))
      if (ch != ' ') out += ch;
  }
  std::vector<std::string> terms = split_terms(c, lhs);
  if (equation.find("->") == std::string::npos) out = implicit_output(terms);
  if (terms.size() != c.inputs() || terms.size() > 2)
    c.fail(fmt::format("equation '{}' with {} operands: heed imports one or two", equation, c.inputs()));
  for (size_t i = 0; i < terms.size(); ++i) {
    std::string sorted = terms[i];
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      c.fail(fmt::format("term '{}' repeats an index (a diagonal), which is not imported", terms[i]));
    if (int(terms[i].size()) != c.rank(i))
      c.fail(fmt::format("term '{}' has {} indices for an input of rank {}", terms[i], terms[i].size(), c.rank(i)));
  }
  for (char ch : out)
    if (lhs.find(ch) == std::string::npos) c.fail(fmt::format("output index '{}' is in no operand", ch));
  Lowering l(c);
  if (terms.size() == 1) {
    Term x = l.sum_out({c.input(0), terms[0]}, out);
    if (x.indices == out) return c.alias(0, x.value);
    l.emit("Transpose", {x.value}, {{"perm", permutation(x.indices, out)}}, c.output_name());
    return;
  }
  two_operands(c, l, {c.input(0), terms[0]}, {c.input(1), terms[1]}, out);
}

}  // namespace

void add_einsum_translator(std::map<std::string, Translator>& table) { table["Einsum"] = einsum; }

}  // namespace heed::onnx_import
