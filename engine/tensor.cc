#include <heed/error.h>
#include <heed/tensor.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "engine/checked.h"

namespace heed {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::i64: return 8;
    case DType::u8: case DType::boolean: case DType::i8: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::boolean: return "bool";
    case DType::i8: return "i8";
  }
  return "?";
}

DType dtype_from_name(std::string_view name) {
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8,
                  DType::boolean, DType::i8})
    if (dtype_name(d) == name) return d;
  throw Error(fmt::format("unknown dtype '{}' (expected f32, f16, bf16, i32, i64, u8, bool or i8)",
                          name));
}

bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::span(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  if (dims.size() > size_t(kMaxRank))
    throw Error(fmt::format("rank {} exceeds heed's maximum rank {}", dims.size(), kMaxRank));
  for (int64_t d : dims) dims_[rank_++] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

void Shape::push_back(int64_t d) {
  if (rank_ == kMaxRank) throw Error(fmt::format("rank exceeds heed's maximum rank {}", kMaxRank));
  dims_[rank_++] = d;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != other.dims_[i]) return false;
  return true;
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(dims(), ", ")); }

Tensor Tensor::empty(DType dtype, const Shape& shape) {
  auto checked = checked_bytes(shape.dims(), dtype_size(dtype));
  if (!checked) throw Error(fmt::format("a tensor of {} {} would exceed heed's {} TiB tensor limit", dtype_name(dtype), shape.str(),
                                        kMaxTensorBytes >> 40));
  size_t bytes = size_t(*checked);
  size_t padded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, padded ? padded : 64);
  if (!p) throw Error(fmt::format("out of memory allocating {} bytes", bytes));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = p;
  t.owner_ = std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return t;
}

Tensor Tensor::zeros(DType dtype, const Shape& shape) {
  Tensor t = empty(dtype, shape);
  std::memset(t.data_, 0, t.nbytes());
  return t;
}

Tensor Tensor::copy_of(DType dtype, const Shape& shape, const void* data) {
  Tensor t = empty(dtype, shape);
  if (t.nbytes()) std::memcpy(t.data_, data, t.nbytes());
  return t;
}

Tensor Tensor::view(DType dtype, const Shape& shape, void* data,
                    std::shared_ptr<const void> keep_alive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = data;
  t.owner_ = std::move(keep_alive);
  return t;
}

Tensor Tensor::on_device(Device device, DType dtype, const Shape& shape, void* data,
                         std::shared_ptr<const void> keep_alive) {
  Tensor t = view(dtype, shape, data, std::move(keep_alive));
  t.device_ = device;
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  if (shape.numel() != numel())
    throw Error(fmt::format("cannot reshape {} to {}", shape_.str(), shape.str()));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

}  // namespace heed
