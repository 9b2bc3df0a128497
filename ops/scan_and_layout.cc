// CumSum (running sums along an axis), Trilu (triangular masks), Tile and Pad:
// what exported models build position ids, causal masks and padded images with.
#include <fmt/format.h>

#include <cstdlib>

#include "engine/checked.h"
#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;

namespace {

void infer_cumsum(InferContext& c) {
  c.expect_dtype(0, {DType::f32, DType::i32, DType::i64});
  c.axis(c.node().attr_int("axis"), c.in(0).rank());
  c.out(0) = c.in(0);
}

void infer_trilu(InferContext& c) {
  c.expect_rank_at_least(0, 2);
  c.out(0) = c.in(0);
}

void infer_tile(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  const auto& repeats = c.node().attr_ints("repeats");
  if (repeats.size() != x.size())
    c.fail(fmt::format("{} repeats for an input of rank {}", repeats.size(), x.size()));
  SymShape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (repeats[i] < 0) c.fail(fmt::format("repeat {} is negative", repeats[i]));
    if (!x[i].is_known()) out.push_back(repeats[i] == 1 ? x[i] : repeats[i] == 0 ? Dim::known(0) : Dim{});
    else if (repeats[i] && x[i].value > kMaxTensorBytes / repeats[i]) c.fail("the output size overflows");
    else out.push_back(Dim::known(x[i].value * repeats[i]));
  }
  c.out(0) = {c.in(0).dtype, out};
}

// pads: ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; negative crops.
void infer_pad(InferContext& c) {
  const SymShape& x = c.in(0).shape;
  const auto& pads = c.node().attr_ints("pads");
  const std::string& mode = c.node().attr_string("mode");
  if (pads.size() != 2 * x.size()) c.fail(fmt::format("{} pads for an input of rank {}", pads.size(), x.size()));
  SymShape out;
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t begin = pads[i], end = pads[i + x.size()];
    if (std::abs(begin) > kMaxTensorBytes || std::abs(end) > kMaxTensorBytes) c.fail("a pad is out of range");
    if (!x[i].is_known()) {
      out.push_back(begin == 0 && end == 0 ? x[i] : Dim{});
      continue;
    }
    int64_t n = x[i].value + begin + end;
    if (n < 0) c.fail(fmt::format("pads {} and {} crop more than dim {} of size {}", begin, end, i, x[i].value));
    if (mode == "reflect" && (begin >= x[i].value || end >= x[i].value) && (begin > 0 || end > 0))
      c.fail(fmt::format("reflect pads {} and {} need dim {} larger than them, it is {}", begin, end, i, x[i].value));
    if (mode == "edge" && x[i].value == 0 && n > 0) c.fail(fmt::format("edge padding of empty dim {}", i));
    out.push_back(Dim::known(n));
  }
  c.out(0) = {c.in(0).dtype, out};
}

}  // namespace

void register_scan_and_layout() {
  register_op(OpDef{.name = "CumSum",
                    .attrs = {{"axis", AttrType::Int, std::nullopt},
                              {"exclusive", AttrType::Bool, int64_t(0)},
                              {"reverse", AttrType::Bool, int64_t(0)}},
                    .infer = infer_cumsum});
  register_op(OpDef{.name = "Trilu",
                    .attrs = {{"upper", AttrType::Bool, int64_t(1)}, {"k", AttrType::Int, int64_t(0)}},
                    .infer = infer_trilu});
  register_op(OpDef{.name = "Tile", .attrs = {{"repeats", AttrType::Ints, std::nullopt}}, .infer = infer_tile});
  register_op(OpDef{.name = "Pad",
                    .attrs = {{"pads", AttrType::Ints, std::nullopt},
                              {"mode", AttrType::String, std::string("constant"), {"constant", "reflect", "edge"}},
                              {"value", AttrType::Float, 0.0}},
                    .infer = infer_pad});
}

}  // namespace heed::ops
