// Load-time evaluation of what exporters write around the model proper: the
// Constant nodes, and the shape arithmetic (Shape, Gather, Concat, Unsqueeze,
// Cast, ...) that becomes known once the input shapes are. Values are small
// (at most kMaxFoldedElements), computed in double and stored in the ONNX
// output's dtype.
#include <heed/error.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "engine/checked.h"
#include "loaders/onnx/onnx_file.h"
#include "loaders/onnx/onnx_ops.h"

namespace heed::onnx_import {
namespace {

constexpr int64_t kMaxFoldedElements = int64_t(1) << 22;

struct Value {
  DType dtype = DType::i64;
  std::vector<int64_t> dims;
  std::vector<double> v;
  int64_t numel() const { return int64_t(v.size()); }
};

Value value_of(const Tensor& t) {
  Value out{t.dtype(), {t.shape().begin(), t.shape().end()}, std::vector<double>(size_t(t.numel()))};
  for (size_t i = 0; i < out.v.size(); ++i) {
    switch (t.dtype()) {
      case DType::f32: out.v[i] = t.data_as<float>()[i]; break;
      case DType::i64: out.v[i] = double(t.data_as<int64_t>()[i]); break;
      case DType::i32: out.v[i] = t.data_as<int32_t>()[i]; break;
      case DType::u8:
      case DType::boolean: out.v[i] = t.data_as<uint8_t>()[i]; break;
      default: throw std::runtime_error("f16/bf16 values are not folded");
    }
  }
  return out;
}

// Doubles past int64's range (INT64_MAX as a Slice end) saturate.
int64_t to_int(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return int64_t(d);
}

Tensor tensor_of(const Value& x) {
  Tensor t = Tensor::empty(x.dtype, Shape(std::span<const int64_t>(x.dims)));
  for (size_t i = 0; i < x.v.size(); ++i) {
    switch (x.dtype) {
      case DType::f32: t.data_as<float>()[i] = float(x.v[i]); break;
      case DType::i64: t.data_as<int64_t>()[i] = to_int(x.v[i]); break;
      case DType::i32: t.data_as<int32_t>()[i] = int32_t(std::clamp<int64_t>(to_int(x.v[i]), INT32_MIN, INT32_MAX)); break;
      case DType::u8: t.data_as<uint8_t>()[i] = uint8_t(to_int(x.v[i])); break;
      case DType::boolean: t.data_as<uint8_t>()[i] = x.v[i] != 0; break;
      default: break;
    }
  }
  return t;
}

int64_t numel_of(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    auto m = d < 0 ? std::nullopt : checked_mul(n, d);
    if (!m || *m > kMaxFoldedElements) return -1;
    n = *m;
  }
  return n;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// numpy broadcasting of any number of operands, `f` over one element of each.
Value broadcast(const std::vector<const Value*>& in, DType dtype, const std::function<double(const double*)>& f) {
  size_t rank = 0;
  for (const Value* x : in) rank = std::max(rank, x->dims.size());
  std::vector<int64_t> dims(rank, 1);
  for (const Value* x : in)
    for (size_t i = 0; i < x->dims.size(); ++i) {
      int64_t& d = dims[rank - x->dims.size() + i];
      if (x->dims[i] != 1 && d != 1 && d != x->dims[i]) throw std::runtime_error("shapes do not broadcast");
      if (x->dims[i] != 1) d = x->dims[i];
    }
  int64_t n = numel_of(dims);
  if (n < 0) throw std::runtime_error("too large to fold");
  Value out{dtype, dims, std::vector<double>(size_t(n))};
  std::vector<int64_t> out_strides = strides_of(dims);
  std::vector<double> args(in.size());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < in.size(); ++k) {
      const Value& x = *in[k];
      std::vector<int64_t> s = strides_of(x.dims);
      int64_t at = 0;
      for (size_t d = 0; d < x.dims.size(); ++d) {
        int64_t coord = (i / out_strides[rank - x.dims.size() + d]) % dims[rank - x.dims.size() + d];
        if (x.dims[d] != 1) at += coord * s[d];
      }
      args[k] = x.v[size_t(at)];
    }
    out.v[size_t(i)] = f(args.data());
  }
  return out;
}

int axis_of(NodeContext& c, int64_t axis, size_t rank) {
  if (axis < -int64_t(rank) || axis >= int64_t(rank)) c.fail(fmt::format("axis {} out of range for rank {}", axis, rank));
  return int(axis < 0 ? axis + int64_t(rank) : axis);
}

bool is_integer(DType d) { return d == DType::i64 || d == DType::i32 || d == DType::u8 || d == DType::boolean; }

using Folder = std::function<std::vector<Value>(NodeContext&, const std::vector<Value>&)>;

Value binary(const std::vector<Value>& in, double (*f)(double, double), bool to_bool = false) {
  DType dtype = to_bool ? DType::boolean : in[0].dtype;
  bool integer = is_integer(in[0].dtype);
  return broadcast({&in[0], &in[1]}, dtype, [&](const double* a) {
    double r = f(a[0], a[1]);
    return integer && !to_bool ? std::trunc(r) : r;
  });
}

std::vector<int64_t> ints_of(const Value& x) {
  std::vector<int64_t> out;
  for (double d : x.v) out.push_back(to_int(d));
  return out;
}

Value gather(NodeContext& c, const Value& data, const Value& indices) {
  int axis = axis_of(c, c.attr_int("axis", 0), data.dims.size());
  std::vector<int64_t> dims(data.dims.begin(), data.dims.begin() + axis);
  dims.insert(dims.end(), indices.dims.begin(), indices.dims.end());
  dims.insert(dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= data.dims[i];
  for (size_t i = axis + 1; i < data.dims.size(); ++i) inner *= data.dims[i];
  Value out{data.dtype, dims, {}};
  for (int64_t o = 0; o < outer; ++o)
    for (double id : indices.v) {
      int64_t k = to_int(id);
      if (k < 0) k += data.dims[axis];
      if (k < 0 || k >= data.dims[axis]) c.fail(fmt::format("index {} out of range [0, {})", to_int(id), data.dims[axis]));
      for (int64_t i = 0; i < inner; ++i) out.v.push_back(data.v[size_t((o * data.dims[axis] + k) * inner + i)]);
    }
  return out;
}

// out[i][j][k] = data[i][index[i][j][k]][k] along `axis`; index and out share a shape.
Value gather_elements(NodeContext& c, const Value& data, const Value& index) {
  const size_t rank = data.dims.size();
  if (index.dims.size() != rank) c.fail("indices and data have different ranks");
  int axis = axis_of(c, c.attr_int("axis", 0), rank);
  std::vector<int64_t> ds = strides_of(data.dims), is = strides_of(index.dims);
  Value out{data.dtype, index.dims, std::vector<double>(index.v.size())};
  for (size_t i = 0; i < index.v.size(); ++i) {
    int64_t at = 0;
    for (size_t d = 0; d < rank; ++d) {
      int64_t k = (int64_t(i) / is[d]) % index.dims[d];
      if (int(d) == axis) {
        k = to_int(index.v[i]);
        if (k < 0) k += data.dims[d];
        if (k < 0 || k >= data.dims[d]) c.fail(fmt::format("index {} out of range [0, {})", to_int(index.v[i]), data.dims[d]));
      } else if (k >= data.dims[d]) {
        c.fail("indices are larger than data outside the axis");
      }
      at += k * ds[d];
    }
    out.v[i] = data.v[size_t(at)];
  }
  return out;
}

Value concat(NodeContext& c, const std::vector<Value>& in) {
  int axis = axis_of(c, c.attr_int("axis", 0), in[0].dims.size());
  for (const Value& x : in)
    for (size_t d = 0; d < in[0].dims.size(); ++d)
      if (x.dims.size() != in[0].dims.size() || (int(d) != axis && x.dims[d] != in[0].dims[d]))
        c.fail("inputs' shapes differ outside the axis");
  Value out{in[0].dtype, in[0].dims, {}};
  out.dims[axis] = 0;
  for (const Value& x : in) out.dims[axis] += x.dims[axis];
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= out.dims[i];
  for (int64_t o = 0; o < outer; ++o)
    for (const Value& x : in) {
      int64_t block = x.numel() / std::max<int64_t>(outer, 1);
      out.v.insert(out.v.end(), x.v.begin() + o * block, x.v.begin() + (o + 1) * block);
    }
  return out;
}

// Axes from the attribute (opset < 13) or the second input.
std::vector<int64_t> axes_of(NodeContext& c, const std::vector<Value>& in) {
  return in.size() > 1 && !in[1].v.empty() ? ints_of(in[1]) : c.attr_ints("axes", {});
}

Value unsqueeze(NodeContext& c, const std::vector<Value>& in) {
  std::vector<int64_t> axes = axes_of(c, in);
  size_t rank = in[0].dims.size() + axes.size();
  std::vector<bool> inserted(rank, false);
  for (int64_t a : axes) inserted[size_t(axis_of(c, a, rank))] = true;
  Value out = in[0];
  out.dims.clear();
  size_t k = 0;
  for (size_t i = 0; i < rank; ++i) out.dims.push_back(inserted[i] ? 1 : in[0].dims[k++]);
  return out;
}

Value squeeze(NodeContext& c, const std::vector<Value>& in) {
  std::vector<int64_t> axes = axes_of(c, in);
  Value out = in[0];
  out.dims.clear();
  std::vector<bool> drop(in[0].dims.size(), axes.empty());
  for (int64_t a : axes) drop[size_t(axis_of(c, a, in[0].dims.size()))] = true;
  for (size_t i = 0; i < in[0].dims.size(); ++i)
    if (!drop[i] || in[0].dims[i] != 1) out.dims.push_back(in[0].dims[i]);
  return out;
}

Value slice(NodeContext& c, const std::vector<Value>& in) {
  const Value& x = in[0];
  std::vector<int64_t> starts = ints_of(in[1]), ends = ints_of(in[2]);
  std::vector<int64_t> axes = in.size() > 3 && !in[3].v.empty() ? ints_of(in[3]) : std::vector<int64_t>{};
  std::vector<int64_t> steps = in.size() > 4 && !in[4].v.empty() ? ints_of(in[4]) : std::vector<int64_t>{};
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  if (ends.size() != starts.size() || axes.size() != starts.size() || (!steps.empty() && steps.size() != starts.size()))
    c.fail("starts, ends, axes and steps have different lengths");
  std::vector<int64_t> begin(x.dims.size(), 0), step(x.dims.size(), 1), count = x.dims;
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = axis_of(c, axes[i], x.dims.size());
    int64_t n = x.dims[a], st = steps.empty() ? 1 : steps[i];
    if (st == 0) c.fail("a Slice step is 0");
    auto clamp = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v < 0 ? v + n : v, lo, hi); };
    int64_t b = st > 0 ? clamp(starts[i], 0, n) : clamp(starts[i], -1, n - 1);
    int64_t e = st > 0 ? clamp(ends[i], 0, n) : clamp(ends[i], -1, n - 1);
    if (ends[i] < -n && st < 0) e = -1;
    begin[a] = b, step[a] = st;
    count[a] = st > 0 ? std::max<int64_t>(0, (e - b + st - 1) / st) : std::max<int64_t>(0, (b - e - st - 1) / -st);
  }
  Value out{x.dtype, count, {}};
  std::vector<int64_t> s = strides_of(x.dims), os = strides_of(count);
  int64_t n = numel_of(count);
  for (int64_t i = 0; i < n; ++i) {
    int64_t at = 0;
    for (size_t d = 0; d < count.size(); ++d) at += (begin[d] + (i / os[d]) % count[d] * step[d]) * s[d];
    out.v.push_back(x.v[size_t(at)]);
  }
  return out;
}

Value reshape(NodeContext& c, const std::vector<Value>& in) {
  std::vector<int64_t> spec = ints_of(in[1]), dims;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i] == 0 && !c.attr_int("allowzero", 0) && i < in[0].dims.size() ? in[0].dims[i] : spec[i];
    if (d == -1) infer = int64_t(i);
    else if (d < 0) c.fail(fmt::format("shape entry {} is {}", i, d));
    else known *= d;
    dims.push_back(d);
  }
  if (infer >= 0 && known) dims[size_t(infer)] = in[0].numel() / known;
  if (numel_of(dims) != in[0].numel()) c.fail("cannot reshape: element counts differ");
  Value out = in[0];
  out.dims = dims;
  return out;
}

Value expand(NodeContext& c, const std::vector<Value>& in) {
  Value shape{in[0].dtype, {}, {}};
  for (int64_t d : ints_of(in[1])) shape.dims.push_back(d);
  if (numel_of(shape.dims) < 0) c.fail("the expanded shape is too large to fold");
  shape.v.assign(size_t(numel_of(shape.dims)), 0.0);
  return broadcast({&in[0], &shape}, in[0].dtype, [](const double* a) { return a[0]; });
}

Value range(NodeContext& c, const std::vector<Value>& in) {
  double start = in[0].v.at(0), limit = in[1].v.at(0), delta = in[2].v.at(0);
  if (delta == 0) c.fail("Range's delta is 0");
  double n = std::max(0.0, std::ceil((limit - start) / delta));
  if (n > double(kMaxFoldedElements)) c.fail("the range is too long to fold");
  Value out{in[0].dtype, {int64_t(n)}, {}};
  for (int64_t i = 0; i < int64_t(n); ++i) out.v.push_back(start + double(i) * delta);
  return out;
}

Value constant(NodeContext& c) {
  const std::string where = fmt::format("{}: node '{}'", c.graph().path_, c.node().name);
  if (const AttributeProto* a = c.attr("value"); a && a->t) return value_of(tensor_from_proto(*a->t, c.graph().dir_, where));
  if (const AttributeProto* a = c.attr("value_float")) return {DType::f32, {}, {a->f}};
  if (const AttributeProto* a = c.attr("value_int")) return {DType::i64, {}, {double(a->i)}};
  if (const AttributeProto* a = c.attr("value_floats"))
    return {DType::f32, {int64_t(a->floats.size())}, {a->floats.begin(), a->floats.end()}};
  if (const AttributeProto* a = c.attr("value_ints")) {
    Value out{DType::i64, {int64_t(a->ints.size())}, {}};
    for (int64_t i : a->ints) out.v.push_back(double(i));
    return out;
  }
  c.fail("a Constant without a value heed reads (value, value_float(s), value_int(s))");
}

double divide(double a, double b) { return a / b; }

// A folder for a binary element-wise op (bool out for comparisons and logic).
Folder elementwise(double (*f)(double, double), bool to_bool = false) {
  return [f, to_bool](NodeContext&, const std::vector<Value>& in) { return std::vector<Value>{binary(in, f, to_bool)}; };
}

const std::map<std::string, Folder>& folders() {
  static const std::map<std::string, Folder> all = {
      {"Identity", [](NodeContext&, const std::vector<Value>& in) { return std::vector<Value>{in[0]}; }},
      {"Cast", [](NodeContext& c, const std::vector<Value>& in) {
         Value out = in[0];
         out.dtype = dtype_from_onnx(int32_t(c.attr_int("to", 0)), "Cast");
         if (is_integer(out.dtype) && !is_integer(in[0].dtype))
           for (double& d : out.v) d = std::trunc(d);
         if (out.dtype == DType::boolean)
           for (double& d : out.v) d = d != 0;
         return std::vector<Value>{out};
       }},
      {"Gather", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{gather(c, in[0], in[1])}; }},
      {"Concat", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{concat(c, in)}; }},
      {"Unsqueeze", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{unsqueeze(c, in)}; }},
      {"Squeeze", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{squeeze(c, in)}; }},
      {"Slice", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{slice(c, in)}; }},
      {"Reshape", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{reshape(c, in)}; }},
      {"Expand", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{expand(c, in)}; }},
      {"Range", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{range(c, in)}; }},
      {"Add", elementwise([](double a, double b) { return a + b; })},
      {"Sub", elementwise([](double a, double b) { return a - b; })},
      {"Mul", elementwise([](double a, double b) { return a * b; })},
      {"Div", [](NodeContext& c, const std::vector<Value>& in) {
         if (is_integer(in[0].dtype))
           for (double d : in[1].v)
             if (d == 0) c.fail("integer division by zero");
         return std::vector<Value>{binary(in, divide)};
       }},
      {"Equal", elementwise([](double a, double b) { return double(a == b); }, true)},
      {"Less", elementwise([](double a, double b) { return double(a < b); }, true)},
      {"Greater", elementwise([](double a, double b) { return double(a > b); }, true)},
      {"LessOrEqual", elementwise([](double a, double b) { return double(a <= b); }, true)},
      {"GreaterOrEqual", elementwise([](double a, double b) { return double(a >= b); }, true)},
      {"And", elementwise([](double a, double b) { return double(a != 0 && b != 0); }, true)},
      {"Or", elementwise([](double a, double b) { return double(a != 0 || b != 0); }, true)},
      {"GatherElements", [](NodeContext& c, const std::vector<Value>& in) { return std::vector<Value>{gather_elements(c, in[0], in[1])}; }},
      {"Min", elementwise([](double a, double b) { return std::fmin(a, b); })},
      {"Max", elementwise([](double a, double b) { return std::fmax(a, b); })},
      {"Where", [](NodeContext&, const std::vector<Value>& in) {
         return std::vector<Value>{broadcast({&in[0], &in[1], &in[2]}, in[1].dtype,
                                             [](const double* a) { return a[0] != 0 ? a[1] : a[2]; })};
       }},
      {"Not", [](NodeContext&, const std::vector<Value>& in) {
         Value out = in[0];
         for (double& d : out.v) d = d == 0;
         return std::vector<Value>{out};
       }},
      {"Sqrt", [](NodeContext&, const std::vector<Value>& in) {
         Value out = in[0];
         for (double& d : out.v) d = std::sqrt(d);
         return std::vector<Value>{out};
       }},
      {"Neg", [](NodeContext&, const std::vector<Value>& in) {
         Value out = in[0];
         for (double& d : out.v) d = -d;
         return std::vector<Value>{out};
       }},
      {"ConstantOfShape", [](NodeContext& c, const std::vector<Value>& in) {
         Value fill{DType::f32, {}, {0.0}};
         if (const AttributeProto* a = c.attr("value"); a && a->t)
           fill = value_of(tensor_from_proto(*a->t, c.graph().dir_, c.node().name));
         Value out{fill.dtype, ints_of(in[0]), {}};
         int64_t n = numel_of(out.dims);
         if (n < 0) c.fail("the shape is too large to fold");
         out.v.assign(size_t(n), fill.v.empty() ? 0.0 : fill.v[0]);
         return std::vector<Value>{out};
       }},
  };
  return all;
}

// Shape and Size need only the input's static shape, not its values.
bool fold_shape(NodeContext& c) {
  auto type = c.type(0);
  if (!type || !ir::all_known(type->shape)) return false;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : type->shape) dims.push_back(d.value);
  if (c.node().op_type == "Size") {
    c.set_known(0, tensor_of({DType::i64, {}, {double(numel_of(dims))}}));
    return true;
  }
  int64_t rank = int64_t(dims.size());
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t(0), rank); };
  int64_t start = clamp(c.attr_int("start", 0)), end = clamp(c.attr_int("end", rank));
  Value out{DType::i64, {std::max<int64_t>(0, end - start)}, {}};
  for (int64_t i = start; i < end; ++i) out.v.push_back(double(dims[size_t(i)]));
  c.set_known(0, tensor_of(out));
  return true;
}

}  // namespace

bool fold(NodeContext& c) {
  const std::string& op = c.node().op_type;
  if (op == "Constant") {
    c.set_known(0, tensor_of(constant(c)));
    return true;
  }
  if (op == "Shape" || op == "Size") return fold_shape(c);
  auto f = folders().find(op);
  if (f == folders().end()) return false;
  std::vector<Value> in;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (!c.has_input(i)) {
      in.push_back({});
      continue;
    }
    const Tensor* t = c.known(i);
    if (!t || t->numel() > kMaxFoldedElements || t->dtype() == DType::f16 || t->dtype() == DType::bf16) return false;
    in.push_back(value_of(*t));
  }
  std::vector<Value> out;
  try {
    out = f->second(c, in);
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const Error*>(&e)) throw;
    c.fail(e.what());
  }
  for (size_t i = 0; i < out.size(); ++i) c.set_known(i, tensor_of(out[i]));
  return true;
}

}  // namespace heed::onnx_import
