// Shape arithmetic that stays in the graph: what exporters compute from the
// shapes of dynamic inputs (Shape, ConstantOfShape, Range, GatherElements, and
// Reshape, Expand and Slice reading computed shapes). The folder (onnx_fold.cc)
// takes every node whose inputs are known at load; these translators take the
// rest and emit heed ops whose shape rules track the elements (ops/elements.h),
// so each session's plan knows every shape once its inputs are bound.
#include <fmt/format.h>

#include "loaders/onnx/onnx_file.h"
#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

void shape(NodeContext& c) {
  c.emit("Shape", {c.input(0)}, {{"start", c.attr_int("start", 0)}, {"end", c.attr_int("end", Shape::kMaxRank)}});
}

// ONNX's value attribute: a one-element tensor, f32 0 when absent.
void constant_of_shape(NodeContext& c) {
  double value = 0;
  DType dtype = DType::f32;
  if (const AttributeProto* a = c.attr("value"); a && a->t) {
    Tensor t = tensor_from_proto(*a->t, c.graph().dir_, fmt::format("{}: node '{}'", c.graph().path_, c.node().name));
    if (t.numel() != 1) c.fail("value must hold one element");
    dtype = t.dtype();
    switch (dtype) {
      case DType::f32: value = t.data_as<float>()[0]; break;
      case DType::i64: value = double(t.data_as<int64_t>()[0]); break;
      case DType::i32: value = t.data_as<int32_t>()[0]; break;
      case DType::boolean: value = t.data_as<uint8_t>()[0] != 0; break;
      default: c.fail(fmt::format("a {} value is not imported", dtype_name(dtype)));
    }
  }
  c.emit("ConstantOfShape", {c.input(0)}, {{"value", value}, {"dtype", std::string(dtype_name(dtype))}});
}

void range(NodeContext& c) {
  auto t = c.type(0);
  if (t && t->dtype != DType::i64 && t->dtype != DType::i32)
    c.fail(fmt::format("a {} Range computed at run time is not imported (its length would depend on data)",
                       dtype_name(t->dtype)));
  c.emit("Range", {c.input(0), c.input(1), c.input(2)});
}

// A computed target shape written as heed's static form when the dims it names
// are the input's own (x.view(x.size(0), x.size(1), 12, 64) -> [0, 0, 12, 64]),
// with at most one dim left to infer; nullopt when it needs the run's values.
std::optional<std::vector<int64_t>> static_reshape(NodeContext& c) {
  auto target = c.type(1), x = c.type(0);
  if (!target || !target->elements || !x) return std::nullopt;
  std::vector<int64_t> spec;
  int open = 0;
  for (size_t i = 0; i < target->elements->size(); ++i) {
    const ir::Element& e = (*target->elements)[i];
    if (e.known) {
      spec.push_back(e.value);
      open += e.value == -1;
    } else if (!e.sym.empty() && i < x->shape.size() && x->shape[i].sym == e.sym) {
      spec.push_back(0);
    } else {
      spec.push_back(-1);
      ++open;
    }
  }
  if (open > 1) return std::nullopt;
  return spec;
}

// allowzero = 1 makes a 0 in the target a dim of 0 instead of "keep the input's".
void reshape(NodeContext& c) {
  std::map<std::string, ir::AttrValue> a;
  if (c.attr_int("allowzero", 0) != 0) a["allowzero"] = int64_t{1};
  if (c.known(1)) {
    a["shape"] = c.ints(1);
    return c.emit("Reshape", {c.input(0)}, a);
  }
  if (a.empty())
    if (auto spec = static_reshape(c)) return c.emit("Reshape", {c.input(0)}, {{"shape", *spec}});
  c.emit("Reshape", {c.input(0), c.input(1)}, a);
}

void expand(NodeContext& c) {
  if (c.known(1)) return c.emit("Expand", {c.input(0)}, {{"shape", c.ints(1)}});
  c.emit("Expand", {c.input(0), c.input(1)});
}

// Starts and ends may be computed (x[:, :seq]); axes and steps must be known.
void slice(NodeContext& c) {
  std::map<std::string, ir::AttrValue> a;
  if (c.opset() < 10) {
    a = {{"starts", c.attr_ints("starts", {})}, {"ends", c.attr_ints("ends", {})}};
    if (c.has_attr("axes")) a["axes"] = c.attr_ints("axes", {});
    return c.emit("Slice", {c.input(0)}, a);
  }
  if (c.has_input(3)) a["axes"] = c.ints(3);
  if (c.has_input(4)) a["steps"] = c.ints(4);
  if (c.known(1) && c.known(2)) {
    a["starts"] = c.ints(1);
    a["ends"] = c.ints(2);
    return c.emit("Slice", {c.input(0)}, a);
  }
  c.emit("Slice", {c.input(0), c.input(1), c.input(2)}, a);
}

}  // namespace

void add_shape_translators(std::map<std::string, Translator>& table) {
  table["Shape"] = shape;
  table["ConstantOfShape"] = constant_of_shape;
  table["Range"] = range;
  table["GatherElements"] = [](NodeContext& c) {
    c.emit("GatherElements", {c.input(0), c.input(1)}, {{"axis", c.attr_int("axis", 0)}});
  };
  table["Reshape"] = reshape;
  table["Expand"] = expand;
  table["Slice"] = slice;
}

}  // namespace heed::onnx_import
