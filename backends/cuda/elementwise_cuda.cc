// Element-wise ops on the GPU: binary with numpy broadcasting (f32, i32, i64, u8/bool)
// and unary functions (f32).
#include <map>
#include <string>

#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

const std::map<std::string, Binary>& binary_ops() {
  static const std::map<std::string, Binary> ops = {{"Add", Binary::add}, {"Sub", Binary::sub}, {"Mul", Binary::mul},
                                                    {"Div", Binary::div}, {"Pow", Binary::pow}, {"Maximum", Binary::max},
                                                    {"Minimum", Binary::min}};
  return ops;
}

const std::map<std::string, Unary>& unary_ops() {
  static const std::map<std::string, Unary> ops = {
      {"Sqrt", Unary::sqrt}, {"Exp", Unary::exp},   {"Log", Unary::log},   {"Tanh", Unary::tanh},    {"Sigmoid", Unary::sigmoid},
      {"Relu", Unary::relu}, {"Gelu", Unary::gelu}, {"Silu", Unary::silu}, {"Neg", Unary::neg},
      {"Abs", Unary::abs},   {"Erf", Unary::erf}};
  return ops;
}

template <typename T>
std::unique_ptr<Invocation> binary_invocation(Binary op, const StridedIndex& index, int64_t n) {
  return invocation([op, index, n](const Buffers& io) {
    binary<T>(op, io.in_as<T>(0), io.in_as<T>(1), io.out_as<T>(0), index, n, stream());
    check_launch("a binary element-wise kernel");
  });
}

}  // namespace

void expect_kernel_rank(int rank, const std::string& where) {
  if (rank > kMaxRank) throw Error(fmt::format("{}: rank {} is above the CUDA kernels' {}", where, rank, kMaxRank));
}

void no_kernel_for(DType dtype, const std::string& where) {
  throw Error(fmt::format("{}: dtype {} has no CUDA kernel", where, dtype_name(dtype)));
}

void broadcast_strides(const Shape& in, const Shape& out, int64_t* strides) {
  const int offset = out.rank() - in.rank();
  int64_t step = 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    const int di = d - offset;
    strides[d] = di < 0 || (in[di] == 1 && out[d] != 1) ? 0 : step;
    if (di >= 0) step *= in[di];
  }
}

StridedIndex broadcast_index(const NodeShapes& s, const std::string& where) {
  const Shape& out = s.out[0].shape;
  expect_kernel_rank(out.rank(), where);
  StridedIndex index;
  index.rank = out.rank();
  for (int d = 0; d < out.rank(); ++d) index.shape[d] = out[d];
  broadcast_strides(s.in[0].shape, out, index.stride_a);
  broadcast_strides(s.in[1].shape, out, index.stride_b);
  return index;
}

void register_elementwise_kernels() {
  for (const auto& [name, op] : binary_ops())
    register_kernel(name, [op = op](const KernelInit& init) {
      std::string where = init.node.where();
      return kernel([op, where](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        StridedIndex index = broadcast_index(s, where);
        const int64_t n = s.out[0].shape.numel();
        switch (s.out[0].dtype) {
          case DType::f32: return binary_invocation<float>(op, index, n);
          case DType::i32: return binary_invocation<int32_t>(op, index, n);
          case DType::i64: return binary_invocation<int64_t>(op, index, n);
          case DType::u8: case DType::boolean: return binary_invocation<uint8_t>(op, index, n);
          default: no_kernel_for(s.out[0].dtype, where);
        }
      });
    });
  for (const auto& [name, op] : unary_ops())
    register_kernel(name, [op = op](const KernelInit& init) {
      const Unary f = op == Unary::gelu && init.node.attr_string("approximate") == "tanh" ? Unary::gelu_tanh : op;
      return kernel([f](const NodeShapes& s) {
        const int64_t n = s.out[0].shape.numel();
        return invocation([f, n](const Buffers& io) {
          unary_f32(f, io.in_as<float>(0), io.out_as<float>(0), n, stream());
          check_launch("a unary element-wise kernel");
        });
      });
    });
}

}  // namespace heed::cuda
