// ONNX's LSTM and GRU onto heed's, which take PyTorch's layout: per direction
// weight_ih [G*H, I], weight_hh [G*H, H], bias_ih, bias_hh, gates in PyTorch's
// order (ONNX's LSTM i o f c is PyTorch's i f g o; ONNX's GRU z r h is r z n).
// ONNX's Y [T, D, B, H] is heed's y [T, B, D*H] reshaped and transposed.
#include <fmt/format.h>

#include <cstring>

#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

constexpr int kLstmGates[4] = {0, 2, 3, 1};  // PyTorch gate k is ONNX gate kLstmGates[k]
constexpr int kGruGates[3] = {1, 0, 2};

struct Recurrent {
  bool lstm;
  int gates;
  const int* order;
  int64_t hidden, dirs;
};

// Direction d's rows of a known [D, rows, cols] tensor (B: [D, 2 * G * H] as cols = G * H, half = 0 or 1),
// gates reordered: [G * H, cols].
Tensor direction_rows(NodeContext& c, size_t input, const Recurrent& r, int64_t d, int64_t half = -1) {
  const Tensor* t = c.known(input);
  if (!t || t->dtype() != DType::f32)
    c.fail(fmt::format("input {} '{}' must be f32 weights known at load", input, c.input_name(input)));
  const int64_t block = r.hidden * (half < 0 ? t->shape()[2] : 1);
  const int64_t want_rows = int64_t(r.gates) * r.hidden;
  const bool ok = half < 0 ? t->shape().rank() == 3 && t->shape()[0] == r.dirs && t->shape()[1] == want_rows
                           : t->shape().rank() == 2 && t->shape()[0] == r.dirs && t->shape()[1] == 2 * want_rows;
  if (!ok) c.fail(fmt::format("input {} '{}' has shape {}, which does not fit {} direction(s) of {} gates of {}", input,
                              c.input_name(input), t->shape().str(), r.dirs, r.gates, r.hidden));
  Tensor out = Tensor::empty(DType::f32, half < 0 ? Shape{want_rows, t->shape()[2]} : Shape{want_rows});
  const float* src = t->data_as<float>() + d * t->shape().numel() / r.dirs + (half > 0 ? want_rows : 0);
  for (int g = 0; g < r.gates; ++g)
    std::memcpy(out.data_as<float>() + g * block, src + r.order[g] * block, size_t(block) * sizeof(float));
  return out;
}

void refuse_unsupported(NodeContext& c, bool lstm) {
  if (c.has_attr("clip")) c.fail("clip is not imported");
  if (c.has_attr("activation_alpha") || c.has_attr("activation_beta")) c.fail("activation parameters are not imported");
  if (const AttributeProto* a = c.attr("activations")) {
    const std::vector<std::string> forward = lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                                  : std::vector<std::string>{"Sigmoid", "Tanh"};
    for (size_t i = 0; i < a->strings.size(); ++i)
      if (a->strings[i] != forward[i % forward.size()])
        c.fail(fmt::format("activation '{}' is not imported (only {})", a->strings[i], lstm ? "Sigmoid, Tanh, Tanh" : "Sigmoid, Tanh"));
  }
  if (lstm && c.attr_int("input_forget", 0)) c.fail("input_forget = 1 is not imported");
  if (lstm && c.has_input(7)) c.fail("peepholes (input P) are not imported");
}

void recurrent(NodeContext& c, bool lstm) {
  refuse_unsupported(c, lstm);
  const std::string direction = c.attr_string("direction", "forward");
  if (direction != "forward" && direction != "bidirectional")
    c.fail(fmt::format("direction '{}' is not imported (forward and bidirectional are)", direction));
  const Tensor* r_weight = c.known(2);
  if (!r_weight || r_weight->shape().rank() != 3) c.fail("input 2 'R' must be weights [D, G*H, H] known at load");
  Recurrent r{lstm, lstm ? 4 : 3, lstm ? kLstmGates : kGruGates, r_weight->shape()[2],
              direction == "bidirectional" ? 2 : 1};
  if (c.attr_int("hidden_size", r.hidden) != r.hidden)
    c.fail(fmt::format("hidden_size {} disagrees with R's {}", c.attr_int("hidden_size", 0), r.hidden));
  const bool batch_first = c.attr_int("layout", 0) == 1;
  // Initial states are [D, B, H] (layout 1: [B, D, H], transposed for heed).
  auto state = [&](size_t i) {
    if (!c.has_input(i) || !batch_first) return c.input(i);
    const std::string t = c.temp(fmt::format("state{}", i));
    c.emit("Transpose", {c.input(i)}, {{"perm", std::vector<int64_t>{1, 0, 2}}}, {t});
    return t;
  };
  std::vector<std::string> in{c.input(0), state(5), lstm ? state(6) : "", c.input(4)};
  for (int64_t d = 0; d < r.dirs; ++d) {
    const std::string p = c.temp(fmt::format("d{}.", d));
    in.push_back(c.weight(p + "weight_ih", direction_rows(c, 1, r, d)));
    in.push_back(c.weight(p + "weight_hh", direction_rows(c, 2, r, d)));
    in.push_back(c.has_input(3) ? c.weight(p + "bias_ih", direction_rows(c, 3, r, d, 0)) : "");
    in.push_back(c.has_input(3) ? c.weight(p + "bias_hh", direction_rows(c, 3, r, d, 1)) : "");
  }
  std::map<std::string, ir::AttrValue> attrs{{"hidden_size", r.hidden}, {"bidirectional", int64_t(r.dirs == 2)},
                                             {"batch_first", int64_t(batch_first)}};
  if (!lstm) attrs["linear_before_reset"] = c.attr_int("linear_before_reset", 0);
  // The states are ONNX's outputs themselves unless layout 1 transposes them.
  auto state_out = [&](size_t i, const char* name) {
    return c.has_output(i) && !batch_first ? c.output_name(i) : c.temp(name);
  };
  const std::string y = c.temp("y");
  std::vector<std::string> outs{y, state_out(1, "h_n")};
  if (lstm) outs.push_back(state_out(2, "c_n"));
  c.emit(lstm ? "LSTM" : "GRU", in, attrs, outs);
  // y [T, B, D*H] (or [B, T, D*H]) -> ONNX's Y [T, D, B, H] (layout 1: [B, T, D, H]).
  if (c.has_output(0)) {
    if (batch_first) {
      c.emit("Reshape", {y}, {{"shape", std::vector<int64_t>{0, 0, r.dirs, r.hidden}}}, {c.output_name(0)});
    } else {
      const std::string split = c.temp("y_split");
      c.emit("Reshape", {y}, {{"shape", std::vector<int64_t>{0, 0, r.dirs, r.hidden}}}, {split});
      c.emit("Transpose", {split}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, {c.output_name(0)});
    }
  }
  // States [D, B, H] (layout 1: [B, D, H]).
  for (size_t i = 1; i < outs.size(); ++i)
    if (c.has_output(i) && batch_first)
      c.emit("Transpose", {outs[i]}, {{"perm", std::vector<int64_t>{1, 0, 2}}}, {c.output_name(i)});
}

}  // namespace

void add_recurrent_translators(std::map<std::string, Translator>& table) {
  table["LSTM"] = [](NodeContext& c) { recurrent(c, true); };
  table["GRU"] = [](NodeContext& c) { recurrent(c, false); };
}

}  // namespace heed::onnx_import
