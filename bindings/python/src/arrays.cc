// Python objects <-> heed tensors. Arrays are read in place when heed can: the
// buffer protocol or DLPack gives the data pointer, dtype and strides, and a
// C-contiguous array of a heed dtype becomes a Tensor::view of that memory.
#include <heed/error.h>

#include <nanobind/stl/string.h>

#include <cstring>

#include "bindings/python/src/bindings.h"

namespace heed::python {
namespace {

using Code = nb::dlpack::dtype_code;

std::optional<DType> heed_dtype(nb::dlpack::dtype d) {
  if (d.lanes != 1) return std::nullopt;
  switch (Code(d.code)) {
    case Code::Float: return d.bits == 32 ? std::optional(DType::f32) : d.bits == 16 ? std::optional(DType::f16) : std::nullopt;
    case Code::Bfloat: return d.bits == 16 ? std::optional(DType::bf16) : std::nullopt;
    case Code::Int:
      if (d.bits == 32) return DType::i32;
      if (d.bits == 64) return DType::i64;
      return d.bits == 8 ? std::optional(DType::i8) : std::nullopt;
    case Code::UInt: return d.bits == 8 ? std::optional(DType::u8) : std::nullopt;
    case Code::Bool: return d.bits == 8 ? std::optional(DType::boolean) : std::nullopt;
    default: return std::nullopt;
  }
}

nb::dlpack::dtype dlpack_dtype(DType t) {
  auto code = [](Code c, int bits) { return nb::dlpack::dtype{uint8_t(c), uint8_t(bits), 1}; };
  switch (t) {
    case DType::f32: return code(Code::Float, 32);
    case DType::f16: return code(Code::Float, 16);
    case DType::bf16: return code(Code::Bfloat, 16);
    case DType::i32: return code(Code::Int, 32);
    case DType::i64: return code(Code::Int, 64);
    case DType::u8: return code(Code::UInt, 8);
    case DType::boolean: return code(Code::Bool, 8);
    case DType::i8: return code(Code::Int, 8);
  }
  throw Error("unknown dtype");
}

// NumPy's name for an array's dtype, for messages ("float64", "complex64").
std::string python_dtype_name(nb::dlpack::dtype d) {
  static const char* names[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string base = d.code < 7 ? names[d.code] : "dtype" + std::to_string(d.code) + "_";
  return base + std::to_string(d.bits) + (d.lanes == 1 ? "" : "x" + std::to_string(d.lanes));
}

const char* numpy_dtype_name(DType t) {
  switch (t) {
    case DType::f16: return "float16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::boolean: return "bool";
    case DType::i8: return "int8";
    default: return "float32";  // NumPy has no bf16: lists read as f32 (heed then names the dtype it wants)
  }
}

bool c_contiguous(const nb::ndarray<nb::ro>& a) {
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= int64_t(a.shape(i));
  }
  return true;
}

// Copies a strided array (any strides, negative ones too) into contiguous memory.
void copy_strided(const uint8_t* src, const nb::ndarray<nb::ro>& a, size_t dim, size_t item, uint8_t*& dst) {
  const int64_t n = int64_t(a.shape(dim)), step = a.stride(dim) * int64_t(item);
  for (int64_t i = 0; i < n; ++i, src += step) {
    if (dim + 1 == a.ndim()) {
      std::memcpy(dst, src, item);
      dst += item;
    } else {
      copy_strided(src, a, dim + 1, item, dst);
    }
  }
}

[[noreturn]] void refuse(const std::string& name, const std::string& why) {
  throw Error("input '" + name + "': " + why);
}

nb::ndarray<nb::ro> as_array(nb::handle object, const std::string& name, DType expected, std::vector<nb::object>& keep) {
  nb::ndarray<nb::ro> a;
  if (nb::try_cast(object, a, false)) return a;
  // An array nanobind cannot view (strides that are not whole elements) is copied
  // by NumPy as it is; anything else (a list, a Python number) is read by NumPy
  // in the dtype the graph takes, since it has none of its own.
  nb::object converted;
  try {
    nb::module_ numpy = nb::module_::import_("numpy");
    converted = nb::hasattr(object, "dtype") ? numpy.attr("ascontiguousarray")(object)
                                            : numpy.attr("asarray")(object, numpy_dtype_name(expected));
  } catch (nb::python_error& e) {
    refuse(name, std::string(nb::type_name(object.type()).c_str()) + " is not an array (" + e.what() + ")");
  }
  if (!nb::try_cast(converted, a, false)) refuse(name, "NumPy could not read it as an array");
  keep.push_back(converted);
  return a;
}

}  // namespace

Tensor tensor_from_object(nb::handle object, const std::string& name, DType expected, std::vector<nb::object>& keep) {
  if (object.is_none()) refuse(name, "None is not an array");
  nb::ndarray<nb::ro> a = as_array(object, name, expected, keep);
  std::optional<DType> dtype = heed_dtype(a.dtype());
  if (!dtype)
    refuse(name, python_dtype_name(a.dtype()) + " arrays are not supported; the graph takes " +
                     std::string(dtype_name(expected)));
  if (a.ndim() > size_t(Shape::kMaxRank))
    refuse(name, std::to_string(a.ndim()) + " dimensions, heed takes at most " + std::to_string(Shape::kMaxRank));
  Shape shape;
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(int64_t(a.shape(i)));
  const bool cuda = a.device_type() == nb::device::cuda::value;
  if (!cuda && a.device_type() != nb::device::cpu::value && a.device_type() != nb::device::cuda_host::value)
    refuse(name, "the array is in memory heed cannot read (DLPack device " + std::to_string(a.device_type()) + ")");
  void* data = const_cast<void*>(static_cast<const void*>(a.data()));
  // Read in place when contiguous and each element at its natural alignment (kernels
  // load whole elements; NumPy can place them anywhere in a byte buffer).
  const bool aligned = reinterpret_cast<uintptr_t>(data) % dtype_size(*dtype) == 0;
  if (c_contiguous(a) && (aligned || cuda)) {
    keep.push_back(nb::borrow(object));
    return cuda ? Tensor::on_device(Device::cuda, *dtype, shape, data) : Tensor::view(*dtype, shape, data);
  }
  if (cuda) refuse(name, "a non-contiguous CUDA array (call .contiguous() first)");
  Tensor copy = Tensor::empty(*dtype, shape);
  uint8_t* dst = copy.data_as<uint8_t>();
  if (copy.numel() > 0) copy_strided(static_cast<const uint8_t*>(a.data()), a, 0, dtype_size(*dtype), dst);
  return copy;
}

nb::object array_from_tensor(Tensor t) {
  if (t.device() != Device::cpu) throw Error("a result in device memory cannot be returned as a NumPy array");
  if (t.dtype() == DType::bf16) {  // widened: bf16 is the top half of an f32
    Tensor wide = Tensor::empty(DType::f32, t.shape());
    const uint16_t* in = t.data_as<uint16_t>();
    uint32_t* out = wide.data_as<uint32_t>();
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = uint32_t(in[i]) << 16;
    t = std::move(wide);
  }
  size_t shape[Shape::kMaxRank];
  nb::list dims;
  for (int i = 0; i < t.shape().rank(); ++i) {
    shape[i] = size_t(t.shape()[i]);
    dims.append(shape[i]);
  }
  if (t.numel() == 0) return nb::module_::import_("numpy").attr("empty")(nb::tuple(dims), numpy_dtype_name(t.dtype()));
  auto* owner = new Tensor(std::move(t));
  nb::capsule keep_alive(owner, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return Array(owner->data(), size_t(owner->shape().rank()), shape, keep_alive, nullptr, dlpack_dtype(owner->dtype()))
      .cast();
}

nb::dict as_dict(nb::handle mapping, const char* what) {
  if (nb::isinstance<nb::dict>(mapping)) return nb::borrow<nb::dict>(mapping);
  if (!nb::hasattr(mapping, "keys"))
    throw nb::type_error((std::string(what) + " must be a mapping of names to arrays, not " +
                          nb::type_name(mapping.type()).c_str()).c_str());
  return nb::borrow<nb::dict>(nb::handle(reinterpret_cast<PyObject*>(&PyDict_Type))(mapping));
}

TensorMap tensors_from_mapping(nb::handle mapping, const std::vector<ValueInfo>& inputs,
                               std::vector<nb::object>& keep) {
  TensorMap out;
  for (auto [key, value] : as_dict(mapping, "inputs")) {
    std::string name = nb::cast<std::string>(key);
    DType expected = DType::f32;  // an input the graph does not have: the session names it
    for (const ValueInfo& v : inputs)
      if (v.name == name) expected = v.dtype;
    out[name] = tensor_from_object(value, name, expected, keep);
  }
  return out;
}

Device device_from_name(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  throw Error("device '" + name + "': expected 'cpu' or 'cuda'");
}

std::optional<Precision> precision_from(const std::optional<std::string>& name) {
  if (!name) return std::nullopt;
  return precision_from_name(*name);
}

std::string path_string(nb::handle path) {
  return nb::cast<std::string>(nb::module_::import_("os").attr("fspath")(path));
}

}  // namespace heed::python
