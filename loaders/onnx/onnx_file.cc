#include "loaders/onnx/onnx_file.h"

#include <heed/error.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "engine/checked.h"
#include "engine/file_io.h"
#include "engine/mapped_file.h"

namespace heed::onnx_import {

ModelProto read_onnx_model(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  ModelProto model = parse_model({reinterpret_cast<const char*>(file->data()), file->size()}, path);
  model.mapping = file;
  if (!model.has_graph) throw Error(fmt::format("{}: not an ONNX model (no graph)", path));
  try {
    onnx_opset(model);  // refuse an opset or domain before anything else is read
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  for (const NodeProto& n : model.graph.node)
    if (!n.domain.empty() && n.domain != "ai.onnx")
      throw Error(fmt::format("{}: node '{}' ({}) is in domain '{}'; heed imports ONNX's own ops only", path,
                              n.name, n.op_type, n.domain));
  return model;
}

int64_t onnx_opset(const ModelProto& model) {
  for (const auto& [domain, version] : model.opset_import)
    if (domain.empty() || domain == "ai.onnx") {
      if (version < kMinOpset || version > kMaxOpset)
        throw Error(fmt::format("opset {} is not one heed imports ({} to {}; export with opset_version={})",
                                version, kMinOpset, kMaxOpset, kMaxOpset));
      return version;
    }
  throw Error("the model imports no version of ONNX's default opset");
}

DType dtype_from_onnx(int32_t elem_type, const std::string& where) {
  switch (elem_type) {
    case kFloat: return DType::f32;
    case kFloat16: return DType::f16;
    case kBfloat16: return DType::bf16;
    case kInt32: return DType::i32;
    case kInt64: return DType::i64;
    case kUint8: return DType::u8;
    case kBool: return DType::boolean;
    case kDouble: return DType::f32;  // read as f32: heed computes in f32
    default: break;
  }
  throw Error(fmt::format("{}: element type {} ({}) is not one heed computes with", where, elem_type_name(elem_type),
                          elem_type));
}

namespace {

// The external data's bytes: `location` inside the model's directory, at `offset`, `length` long.
std::string external_bytes(const TensorProto& t, const std::string& model_dir, const std::string& where) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : t.external_data) {  // not a structured binding: clang 14's lambdas cannot capture one
    const std::string &key = entry.first, &value = entry.second;
    auto number = [&where, &key, &value] {
      try {
        size_t used = 0;
        int64_t v = std::stoll(value, &used);
        if (used == value.size() && v >= 0) return v;
      } catch (const std::exception&) {
      }
      throw Error(fmt::format("{}: external data {} '{}' is not a byte count", where, key, value));
    };
    if (key == "location") location = value;
    else if (key == "offset") offset = number();
    else if (key == "length") length = number();
  }
  if (location.empty()) throw Error(fmt::format("{}: external data without a location", where));
  std::string file = resolve_model_path(model_dir, location, where + ": external data");
  std::shared_ptr<MappedFile> data;
  try {
    data = MappedFile::open(file);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: external data: {}", where, e.what()));
  }
  if (uint64_t(offset) > data->size()) throw Error(fmt::format("{}: offset {} is past the end of {}", where, offset, file));
  if (length < 0) length = int64_t(data->size()) - offset;
  if (uint64_t(length) > data->size() - uint64_t(offset))
    throw Error(fmt::format("{}: {} bytes at offset {} run past the end of {} ({} bytes)", where, length, offset,
                            file, data->size()));
  return std::string(reinterpret_cast<const char*>(data->data()) + offset, size_t(length));
}

template <typename From, typename To>
void copy_converted(const From* from, size_t n, void* to) {
  To* out = static_cast<To*>(to);
  for (size_t i = 0; i < n; ++i) out[i] = To(from[i]);
}

// How many values the typed field for t's data type holds.
size_t typed_count(const TensorProto& t) {
  switch (t.data_type) {
    case kFloat: return t.float_data.size();
    case kDouble: return t.double_data.size();
    case kInt64: return t.int64_data.size();
    default: return t.int32_data.size();  // int32, uint8, bool, float16, bfloat16
  }
}

// Values stored in the typed repeated fields rather than raw_data.
void copy_typed_fields(const TensorProto& t, Tensor& out, size_t n, const std::string& where) {
  auto need = [&](size_t have) {
    if (size_t(have) != n) throw Error(fmt::format("{}: {} values stored for {} elements", where, have, n));
  };
  switch (t.data_type) {
    case kFloat: need(t.float_data.size()); copy_converted<float, float>(t.float_data.data(), n, out.data()); return;
    case kDouble: need(t.double_data.size()); copy_converted<double, float>(t.double_data.data(), n, out.data()); return;
    case kInt64: need(t.int64_data.size()); copy_converted<int64_t, int64_t>(t.int64_data.data(), n, out.data()); return;
    case kInt32: need(t.int32_data.size()); copy_converted<int32_t, int32_t>(t.int32_data.data(), n, out.data()); return;
    case kUint8:
    case kBool: need(t.int32_data.size()); copy_converted<int32_t, uint8_t>(t.int32_data.data(), n, out.data()); return;
    case kFloat16:
    case kBfloat16: need(t.int32_data.size()); copy_converted<int32_t, uint16_t>(t.int32_data.data(), n, out.data()); return;
    default: throw Error(fmt::format("{}: no data", where));
  }
}

}  // namespace

Tensor tensor_from_proto(const TensorProto& t, const std::string& model_dir, const std::string& where,
                         std::shared_ptr<const void> mapping) {
  DType dtype = dtype_from_onnx(t.data_type, where);
  if (t.dims.size() > size_t(Shape::kMaxRank))
    throw Error(fmt::format("{}: rank {} is above {}", where, t.dims.size(), Shape::kMaxRank));
  const std::vector<int64_t>& dims = t.dims;
  auto bytes = checked_bytes(dims, dtype_size(dtype));
  if (!bytes) throw Error(fmt::format("{}: dims [{}] are negative or too large", where, fmt::join(dims, ", ")));
  const size_t n = size_t(*bytes) / dtype_size(dtype);
  const bool is_double = t.data_type == kDouble;
  const size_t stored_bytes = is_double ? n * 8 : size_t(*bytes);
  std::string external;
  const std::string_view* raw = t.has_raw_data ? &t.raw_data : nullptr;
  std::string_view external_view;
  if (t.external) raw = &(external_view = external = external_bytes(t, model_dir, where));
  // The data's size is checked before anything is allocated: a few bytes may not declare gigabytes.
  if (raw && raw->size() != stored_bytes)
    throw Error(fmt::format("{}: {} bytes of data for [{}] {}, expected {}", where, raw->size(), fmt::join(dims, ", "),
                            dtype_name(dtype), stored_bytes));
  if (!raw && typed_count(t) != n) throw Error(fmt::format("{}: {} values stored for {} elements", where, typed_count(t), n));
  const Shape shape{std::span<const int64_t>(dims)};
  const bool viewable = mapping && raw == &t.raw_data && !is_double && n &&
                        reinterpret_cast<uintptr_t>(raw->data()) % dtype_size(dtype) == 0;
  if (viewable) return Tensor::view(dtype, shape, const_cast<char*>(raw->data()), std::move(mapping));
  Tensor out = Tensor::empty(dtype, shape);
  if (!raw) {
    copy_typed_fields(t, out, n, where);
    return out;
  }
  if (is_double) {
    std::vector<double> values(n);  // raw bytes have no alignment promise
    std::memcpy(values.data(), raw->data(), raw->size());
    copy_converted<double, float>(values.data(), n, out.data());
  } else if (n) {
    std::memcpy(out.data(), raw->data(), raw->size());
  }
  // Copied (unaligned for its type): the file's pages of it need not stay resident beside the copy.
  if (mapping && raw == &t.raw_data) MappedFile::release_pages_within(raw->data(), raw->size());
  return out;
}

}  // namespace heed::onnx_import
