// MatMul on oneDNN matmul: batch dims broadcast, transposes expressed as strides
// (no copy of the transposed operand).
//
// One measured exception (AVX2, oneDNN 2.6 gemm:jit): a row-major right operand
// whose row stride is a multiple of 4 KiB (N = 1024, 2048, ...) runs 3x slower
// from cache-set aliasing. For large M it pays to copy it once per call into a
// buffer with padded rows (128x512 @ 512x2048: 3.3 ms -> 1.8 ms).
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/projection.h"

namespace heed::cpu {
namespace {

using dnnl::memory;

// Describes a stored operand (row-major, or with rows of `row_stride` elements)
// as its logical [batch..., rows, cols] view at rank `rank`, swapping the last
// two dims when `transposed`.
memory::desc operand_desc(const Shape& stored, int rank, bool transposed, int64_t row_stride = 0) {
  memory::dims dims(rank, 1), strides(rank, stored.numel());
  Shape padded = stored;
  if (row_stride) padded[stored.rank() - 1] = row_stride;
  Shape st = strides_of(padded);
  int pad = rank - stored.rank();
  for (int i = 0; i < stored.rank(); ++i) {
    dims[pad + i] = stored[i];
    strides[pad + i] = st[i];
  }
  if (transposed) {
    std::swap(dims[rank - 1], dims[rank - 2]);
    std::swap(strides[rank - 1], strides[rank - 2]);
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

bool aliasing_stride(const NodeShapes& s, bool tb) {
  const Shape& b = s.in[1].shape;
  int64_t n = b[b.rank() - 1], m = s.out[0].shape[s.out[0].shape.rank() - 2];
  return !tb && n % 1024 == 0 && m >= 32;
}

// Copies the right operand into padded rows, then runs the matmul on the copy.
class PaddedMatMul final : public Invocation {
 public:
  PaddedMatMul(std::unique_ptr<DnnlInvocation> matmul, Shape b, int64_t row_stride)
      : matmul_(std::move(matmul)), b_(b), copy_(size_t(b.numel() / b[b.rank() - 1] * row_stride)) {
    Shape padded = b;
    padded[b.rank() - 1] = row_stride;
    padded_strides_ = strides_of(padded);
  }
  void run(const Buffers& io) override {
    strided_copy(copy_.data(), padded_strides_, io.in(1), strides_of(b_), b_, sizeof(float));
    values_[0] = const_cast<void*>(io.in(0));
    values_[1] = copy_.data();
    values_[2] = io.out(0);
    matmul_->run({values_, ids_, ids_ + 2, 2});
  }

 private:
  std::unique_ptr<DnnlInvocation> matmul_;
  Shape b_, padded_strides_;
  std::vector<float> copy_;
  void* values_[3] = {};
  const int ids_[3] = {0, 1, 2};
};

// MatMul by a constant 2-D right operand in bf16 or int8 (LoadOptions::precision):
// Linear's projection kernel, B read as [in, out] (as [out, in] when transposed).
// The rows of a (its batch dims flattened) are the projection's rows.
class LowPrecisionMatMul final : public Kernel {
 public:
  LowPrecisionMatMul(const KernelInit& init, bool tb)
      : k_(init.constants[1]->shape()[tb ? 1 : 0]),
        weight_(std::make_shared<const ProjectionWeight>(
            init.constants[1]->data_as<float>(), init.constants[1]->shape()[tb ? 0 : 1], k_, Activation::none, nullptr,
            layout(tb), init.precision, stored_part(init, 1, layout(tb)))) {}
  static WeightLayout layout(bool tb) { return tb ? WeightLayout::out_in : WeightLayout::in_out; }
  static bool takes(const KernelInit& init) {
    const Tensor* b = init.constants[1];
    return init.precision != Precision::f32 && !init.node.attr_int("transpose_a") && b && b->dtype() == DType::f32 &&
           b->shape().rank() == 2 && b->numel() > 0;
  }
  bool reads_constant(size_t input) const override { return input != 1; }
  Precision precision() const override { return weight_->precision(); }
  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    if (s.out[0].shape.numel() == 0) return invocation([](const Buffers&) {});
    Projection projection(weight_, s.in[0].shape.numel() / k_, false);
    const size_t workspace = projection.workspace_bytes();
    return invocation([projection = std::move(projection)](const Buffers& io) mutable {
      projection.run(io.in_as<float>(0), io.out_as<float>(0), nullptr, io.workspace);
    }, workspace);
  }

 private:
  int64_t k_;
  std::shared_ptr<const ProjectionWeight> weight_;
};

// MatMul by a constant 2-D *left* operand in bf16 or int8 (a 1x1 convolution
// written as A @ X, as pytorch-vqa's attention does): y_b = A x_b is
// (x_b^T A^T)^T, so each batch item's columns are the projection's rows (x_b
// transposed into a buffer unless transpose_b already stores it so), and the
// projection's [N, M] result is transposed into y_b [M, N].
class LowPrecisionLeftMatMul final : public Kernel {
 public:
  LowPrecisionLeftMatMul(const KernelInit& init, bool ta, bool tb)
      : m_(init.constants[0]->shape()[ta ? 1 : 0]), k_(init.constants[0]->shape()[ta ? 0 : 1]), tb_(tb),
        weight_(std::make_shared<const ProjectionWeight>(init.constants[0]->data_as<float>(), m_, k_, Activation::none,
                                                         nullptr, layout(ta), init.precision,
                                                         stored_part(init, 0, layout(ta)))) {}
  static WeightLayout layout(bool ta) { return ta ? WeightLayout::in_out : WeightLayout::out_in; }
  static bool takes(const KernelInit& init) {
    const Tensor* a = init.constants[0];
    return init.precision != Precision::f32 && !init.constants[1] && a && a->dtype() == DType::f32 &&
           a->shape().rank() == 2 && a->numel() > 0;
  }
  bool reads_constant(size_t input) const override { return input != 0; }
  Precision precision() const override { return weight_->precision(); }
  std::unique_ptr<Invocation> prepare(const NodeShapes& s) const override {
    const Shape& b = s.in[1].shape;
    const int64_t n = b[b.rank() - (tb_ ? 2 : 1)], items = n ? b.numel() / (k_ * n) : 0;
    if (s.out[0].shape.numel() == 0) return invocation([](const Buffers&) {});
    Projection projection(weight_, n, false);
    const size_t workspace = projection.workspace_bytes();
    return invocation([projection = std::move(projection), m = m_, k = k_, n, items, tb = tb_,
                       rows = std::vector<float>(tb_ ? 0 : size_t(n * k_)),
                       out = std::vector<float>(size_t(n * m_))](const Buffers& io) mutable {
      for (int64_t i = 0; i < items; ++i) {
        const float* x = io.in_as<float>(1) + i * k * n;
        if (!tb) {
          transpose_into(x, n, k, n, rows.data());  // [k, n] -> [n, k]
          x = rows.data();
        }
        projection.run(x, out.data(), nullptr, io.workspace);
        transpose_into(out.data(), m, n, m, io.out_as<float>(0) + i * m * n);  // [n, m] -> [m, n]
      }
    }, workspace);
  }

 private:
  int64_t m_, k_;
  bool tb_;
  std::shared_ptr<const ProjectionWeight> weight_;
};

}  // namespace

void register_matmul_kernels() {
  register_kernel("MatMul", [](const KernelInit& init) -> std::unique_ptr<Kernel> {
    bool ta = init.node.attr_int("transpose_a"), tb = init.node.attr_int("transpose_b");
    if (LowPrecisionMatMul::takes(init)) return std::make_unique<LowPrecisionMatMul>(init, tb);
    if (LowPrecisionLeftMatMul::takes(init)) return std::make_unique<LowPrecisionLeftMatMul>(init, ta, tb);
    return kernel([ta, tb](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Shape& y = s.out[0].shape;
      if (y.numel() == 0) return invocation([](const Buffers&) {});
      int rank = y.rank();
      bool pad = aliasing_stride(s, tb);
      int64_t row_stride = pad ? s.in[1].shape[s.in[1].shape.rank() - 1] + 16 : 0;
      memory::desc a = operand_desc(s.in[0].shape, rank, ta), b = operand_desc(s.in[1].shape, rank, tb, row_stride);
      memory::desc c = plain_desc(DType::f32, y);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), scratchpad_attr(), cpu_engine());
      auto inv = dnnl_invocation<dnnl::matmul>(pd);
      inv->bind_input(DNNL_ARG_SRC, a, 0);
      inv->bind_input(DNNL_ARG_WEIGHTS, b, 1);
      inv->bind_output(DNNL_ARG_DST, c, 0);
      if (!pad) return inv;
      return std::make_unique<PaddedMatMul>(std::move(inv), s.in[1].shape, row_stride);
    });
  }, [](const KernelInit& init, size_t input) {
    const bool ta = init.node.attr_int("transpose_a"), tb = init.node.attr_int("transpose_b");
    if (LowPrecisionMatMul::takes(init))
      return input == 1 && stored_part(init, 1, LowPrecisionMatMul::layout(tb)).has_value();
    return input == 0 && LowPrecisionLeftMatMul::takes(init) &&
           stored_part(init, 0, LowPrecisionLeftMatMul::layout(ta)).has_value();
  });

}

}  // namespace heed::cpu
