#pragma once
// Tensors as the public API sees them: a dtype, a fixed-capacity shape and a
// reference-counted buffer that may be owned memory or a view into a mapped file.
#include <heed/export.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace heed {

enum class DType : uint8_t { f32, f16, bf16, i32, i64, u8, boolean, i8 };
enum class Device : uint8_t { cpu, cuda };

HEED_API size_t dtype_size(DType dtype);
HEED_API std::string_view dtype_name(DType dtype);       // "f32", "f16", "bf16", "i32", "i64", "u8", "bool", "i8"
HEED_API DType dtype_from_name(std::string_view name);   // throws heed::Error on an unknown name
HEED_API bool is_floating(DType dtype);

// A shape held inline (no heap), so that kernels can pass shapes around per run
// without allocating.
class HEED_API Shape {
 public:
  static constexpr int kMaxRank = 8;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  int64_t numel() const;
  void push_back(int64_t d);
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  std::span<const int64_t> dims() const { return {dims_.data(), size_t(rank_)}; }
  bool operator==(const Shape& other) const;
  std::string str() const;  // "[2, 3]"

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

class HEED_API Tensor {
 public:
  Tensor() = default;
  // Owned, 64-byte aligned, uninitialized (zeros() fills with zero bytes).
  static Tensor empty(DType dtype, const Shape& shape);
  static Tensor zeros(DType dtype, const Shape& shape);
  // Copies `data` (nbytes of dtype x shape).
  static Tensor copy_of(DType dtype, const Shape& shape, const void* data);
  // No copy: `data` stays valid as long as `keep_alive` does (nullptr: caller's promise).
  static Tensor view(DType dtype, const Shape& shape, void* data,
                     std::shared_ptr<const void> keep_alive = nullptr);
  // The same in `device`'s memory (a CUDA device pointer for Device::cuda): a
  // session on that device reads and writes it in place, with no copy (see
  // Session::new_tensor); data() is then not a host pointer.
  static Tensor on_device(Device device, DType dtype, const Shape& shape, void* data,
                          std::shared_ptr<const void> keep_alive = nullptr);

  bool defined() const { return data_ != nullptr || shape_.numel() == 0; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Device device() const { return device_; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* data_as() { return static_cast<T*>(data_); }
  template <typename T> const T* data_as() const { return static_cast<const T*>(data_); }
  // Same bytes, another shape of equal element count.
  Tensor reshaped(const Shape& shape) const;

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  Device device_ = Device::cpu;
  std::shared_ptr<const void> owner_;
  void* data_ = nullptr;
};

}  // namespace heed
