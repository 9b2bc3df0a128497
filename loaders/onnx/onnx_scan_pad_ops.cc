// CumSum, Trilu, Tile, Pad and Size onto heed's ops of the same names. ONNX
// gives their axis, k, repeats and pads as inputs; heed needs them at load.
#include <fmt/format.h>

#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

int64_t one_int(NodeContext& c, size_t i, const char* what) {
  std::vector<int64_t> v = c.ints(i);
  if (v.size() != 1) c.fail(fmt::format("{} must hold one value, it holds {}", what, v.size()));
  return v[0];
}

void cumsum(NodeContext& c) {
  c.emit("CumSum", {c.input(0)},
         {{"axis", one_int(c, 1, "axis")}, {"exclusive", c.attr_int("exclusive", 0)}, {"reverse", c.attr_int("reverse", 0)}});
}

void trilu(NodeContext& c) {
  int64_t k = c.has_input(1) ? one_int(c, 1, "k") : 0;
  c.emit("Trilu", {c.input(0)}, {{"upper", c.attr_int("upper", 1)}, {"k", k}});
}

// Pads from opset 11 are input 1, constant_value input 2 (a scalar known at load).
void pad(NodeContext& c) {
  std::string mode = c.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") c.fail(fmt::format("mode '{}' is not imported", mode));
  double value = 0;
  if (c.has_input(2)) {
    const Tensor* v = c.known(2);
    if (!v || v->numel() != 1) c.fail("constant_value must be a scalar known at load");
    switch (v->dtype()) {
      case DType::f32: value = v->data_as<float>()[0]; break;
      case DType::i64: value = double(v->data_as<int64_t>()[0]); break;
      case DType::i32: value = v->data_as<int32_t>()[0]; break;
      case DType::boolean: value = v->data_as<uint8_t>()[0] != 0; break;
      default: c.fail(fmt::format("a {} constant_value is not imported", dtype_name(v->dtype())));
    }
  }
  c.emit("Pad", {c.input(0)}, {{"pads", c.ints(1)}, {"mode", mode}, {"value", value}});
}

}  // namespace

void add_scan_pad_translators(std::map<std::string, Translator>& table) {
  table["CumSum"] = cumsum;
  table["Trilu"] = trilu;
  table["Tile"] = [](NodeContext& c) { c.emit("Tile", {c.input(0)}, {{"repeats", c.ints(1)}}); };
  table["Pad"] = pad;
  table["Size"] = [](NodeContext& c) { c.emit("Size", {c.input(0)}); };
}

}  // namespace heed::onnx_import
