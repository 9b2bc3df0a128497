// LSTM and GRU (multi-layer, bidirectional, batch-first, initial states, per-
// sequence lengths) and their one-step cells, with PyTorch's weight layouts.
#include "ops/recurrent.h"

#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"

namespace heed::ops {
using namespace ir;
using namespace recurrent;

namespace {

void expect_shape(InferContext& c, size_t i, const SymShape& want, const char* what) {
  const SymShape& got = c.in(i).shape;
  c.expect_dtype(i, {DType::f32});
  if (got.size() != want.size())
    c.fail(fmt::format("{} '{}' has shape {}, expected {}", what, c.node().inputs[i], shape_str(got), shape_str(want)));
  for (size_t d = 0; d < got.size(); ++d)
    c.unify(got[d], want[d], fmt::format("{} '{}' {} and expected {}", what, c.node().inputs[i], shape_str(got),
                                         shape_str(want)));
}

void infer_rnn(InferContext& c, int gates, bool lstm) {
  const Node& n = c.node();
  int64_t hidden = n.attr_int("hidden_size"), layers = n.attr_int("num_layers");
  int dirs = n.attr_int("bidirectional") ? 2 : 1;
  bool batch_first = n.attr_int("batch_first");
  // Bounds far beyond any real network, so that the counts below cannot overflow.
  if (hidden < 1 || layers < 1 || hidden > (int64_t(1) << 30) || layers > 1024)
    c.fail(fmt::format("hidden_size {} must be in [1, 2^30] and num_layers {} in [1, 1024]", hidden, layers));
  size_t want_inputs = kFirstWeight + size_t(layers * dirs) * kWeightsPerDirection;
  if (c.num_inputs() > want_inputs || c.num_inputs() < want_inputs - 2)
    c.fail(fmt::format("{} layer(s) x {} direction(s) take {} inputs (4 before the weights, then weight_ih, "
                       "weight_hh, bias_ih, bias_hh each), got {}", layers, dirs, want_inputs, c.num_inputs()));
  c.expect_dtype(kX, {DType::f32});
  if (c.in(kX).rank() != 3) c.fail("x " + shape_str(c.in(kX).shape) + " must be [seq, batch, input] (or batch-first)");
  Dim t = c.in(kX).shape[batch_first ? 1 : 0], b = c.in(kX).shape[batch_first ? 0 : 1], in = c.in(kX).shape[2];
  if (in.is_known() && in.value == 0) c.fail("an input size of 0 is not supported");
  Dim h = Dim::known(hidden), states = Dim::known(layers * dirs);
  if (c.has_input(kH0)) expect_shape(c, kH0, {states, b, h}, "h0");
  if (c.has_input(kC0)) {
    if (!lstm) c.fail("a GRU has no cell state: leave input 2 out");
    expect_shape(c, kC0, {states, b, h}, "c0");
  }
  if (c.has_input(kLengths)) {
    c.expect_dtype(kLengths, {DType::i32, DType::i64});
    if (c.in(kLengths).rank() != 1) c.fail("lengths must be [batch]");
    c.unify(c.in(kLengths).shape[0], b, "lengths and batch");
  }
  Dim g = Dim::known(gates * hidden);
  for (int l = 0; l < layers; ++l)
    for (int d = 0; d < dirs; ++d) {
      Dim layer_in = l == 0 ? in : Dim::known(dirs * hidden);
      expect_shape(c, weight_input(l, d, dirs, kWeightIh), {g, layer_in}, "weight_ih");
      expect_shape(c, weight_input(l, d, dirs, kWeightHh), {g, h}, "weight_hh");
      for (int which : {kBiasIh, kBiasHh})
        if (c.has_input(weight_input(l, d, dirs, which))) expect_shape(c, weight_input(l, d, dirs, which), {g}, "bias");
    }
  Dim out = Dim::known(dirs * hidden);
  c.out(0) = {DType::f32, batch_first ? SymShape{b, t, out} : SymShape{t, b, out}};
  for (size_t i = 1; i < c.outputs().size(); ++i) c.out(i) = {DType::f32, {states, b, h}};
  if (!lstm && c.outputs().size() > 2) c.fail("a GRU returns y and h_n only");
}

void infer_cell(InferContext& c, int gates, bool lstm) {
  c.expect_dtype(cell::kX, {DType::f32});
  if (c.in(cell::kX).rank() != 2) c.fail("x " + shape_str(c.in(cell::kX).shape) + " must be [batch, input]");
  Dim b = c.in(cell::kX).shape[0], in = c.in(cell::kX).shape[1];
  if (in.is_known() && in.value == 0) c.fail("an input size of 0 is not supported");
  size_t w = lstm ? 3 : 2;
  c.expect_dtype(w, {DType::f32});
  if (c.in(w).rank() != 2) c.fail("weight_ih must be [gates * hidden, input]");
  Dim g = c.in(w).shape[0];
  if (!g.is_known() || g.value % gates) c.fail(fmt::format("weight_ih rows {} are not {} x hidden", g.str(), gates));
  Dim h = Dim::known(g.value / gates);
  expect_shape(c, w, {g, in}, "weight_ih");
  expect_shape(c, w + 1, {g, h}, "weight_hh");
  for (size_t i = w + 2; i < w + 4; ++i)
    if (c.has_input(i)) expect_shape(c, i, {g}, "bias");
  expect_shape(c, cell::kH, {b, h}, "h");
  if (lstm) expect_shape(c, 2, {b, h}, "c");
  for (size_t i = 0; i < c.outputs().size(); ++i) c.out(i) = {DType::f32, {b, h}};
}

std::vector<AttrSpec> rnn_attrs() {
  return {{"hidden_size", AttrType::Int, std::nullopt},
          {"num_layers", AttrType::Int, int64_t(1)},
          {"bidirectional", AttrType::Bool, int64_t(0)},
          {"batch_first", AttrType::Bool, int64_t(0)}};
}

// Every layer's and direction's weight_ih and weight_hh: projections (bf16, int8);
// not ONNX's GRU form, whose reset gate scales h before W_hn (kept fp32).
int rnn_weight_axis(const Node& n, size_t input, const std::vector<const Tensor*>&) {
  if (input < kFirstWeight || (n.op == "GRU" && !n.attr_int("linear_before_reset"))) return -1;
  const size_t which = (input - kFirstWeight) % kWeightsPerDirection;
  return which == size_t(kWeightIh) || which == size_t(kWeightHh) ? 0 : -1;
}

}  // namespace

void register_recurrent() {
  register_op(OpDef{.name = "LSTM", .min_inputs = 6, .max_inputs = 4096, .min_outputs = 1, .max_outputs = 3,
                    .attrs = rnn_attrs(), .infer = [](InferContext& c) { infer_rnn(c, 4, true); },
                    .weight_axis = rnn_weight_axis});
  std::vector<AttrSpec> gru_attrs = rnn_attrs();
  // true: PyTorch's GRU (the reset gate scales W_hn h + b_hn); false: ONNX's
  // default, the reset gate scaling h before W_hn.
  gru_attrs.push_back({"linear_before_reset", AttrType::Bool, int64_t(1)});
  register_op(OpDef{.name = "GRU", .min_inputs = 6, .max_inputs = 4096, .min_outputs = 1, .max_outputs = 2,
                    .attrs = gru_attrs, .infer = [](InferContext& c) { infer_rnn(c, 3, false); },
                    .weight_axis = rnn_weight_axis});
  // A cell's weight_ih and weight_hh [gates * hidden, in]: projections (bf16, int8).
  auto gate_weights_from = [](size_t first) {
    return [first](const Node&, size_t input, const std::vector<const Tensor*>&) {
      return input == first || input == first + 1 ? 0 : -1;
    };
  };
  register_op(OpDef{.name = "LSTMCell", .min_inputs = 5, .max_inputs = 7, .min_outputs = 2, .max_outputs = 2,
                    .infer = [](InferContext& c) { infer_cell(c, 4, true); }, .weight_axis = gate_weights_from(3)});
  register_op(OpDef{.name = "GRUCell", .min_inputs = 4, .max_inputs = 6, .min_outputs = 1, .max_outputs = 1,
                    .infer = [](InferContext& c) { infer_cell(c, 3, false); }, .weight_axis = gate_weights_from(2)});
}

}  // namespace heed::ops
