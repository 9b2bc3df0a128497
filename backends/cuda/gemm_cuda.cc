// Linear and MatMul on cuBLAS (fp32 in, fp32 out, no TF32), with Linear's bias
// and activation applied by one epilogue kernel.
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_gemm.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"

namespace heed::cuda {
namespace {

Unary activation_of(const std::string& name) {
  static const std::map<std::string, Unary> acts = {{"none", Unary::identity}, {"relu", Unary::relu},
                                                    {"gelu", Unary::gelu},     {"gelu_tanh", Unary::gelu_tanh},
                                                    {"silu", Unary::silu},     {"tanh", Unary::tanh},
                                                    {"sigmoid", Unary::sigmoid}};
  return acts.at(name);
}

// Offsets (in elements) of each batch of A and B in a broadcast batched MatMul.
struct BatchPlan {
  std::vector<int64_t> a, b;
  int64_t stride_a = 0, stride_b = 0;  // uniform strides when `uniform`
  bool uniform = false;
};

BatchPlan plan_batches(const Shape& a, const Shape& b, const Shape& out, int64_t a_mat, int64_t b_mat) {
  const int batch_rank = out.rank() - 2;
  BatchPlan p;
  int64_t count = 1;
  for (int d = 0; d < batch_rank; ++d) count *= out[d];
  auto offsets = [&](const Shape& x, int64_t mat) {
    std::vector<int64_t> off(static_cast<size_t>(count));
    const int xb = x.rank() - 2, shift = batch_rank - xb;
    for (int64_t i = 0; i < count; ++i) {
      int64_t rest = i, o = 0, step = mat;
      for (int d = batch_rank - 1; d >= 0; --d) {
        const int64_t c = rest % out[d];
        rest /= out[d];
        const int dx = d - shift;
        if (dx >= 0) {
          if (x[dx] != 1) o += c * step;
          step *= x[dx];
        }
      }
      off[size_t(i)] = o;
    }
    return off;
  };
  p.a = offsets(a, a_mat);
  p.b = offsets(b, b_mat);
  p.uniform = true;
  if (count > 1) {
    p.stride_a = p.a[1] - p.a[0];
    p.stride_b = p.b[1] - p.b[0];
    for (int64_t i = 1; i < count && p.uniform; ++i)
      p.uniform = p.a[size_t(i)] == i * p.stride_a && p.b[size_t(i)] == i * p.stride_b;
  }
  return p;
}

}  // namespace

void linear_f32(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, int64_t n, const float* bias, float* y,
                int64_t ldy, Unary act, int64_t ldw) {
  if (m == 0 || n == 0) return;
  const float one = 1.f, zero = 0.f;
  // Column-major view: y^T [n, m] = W [n, k] . x^T [k, m].
  check(cublasSgemm(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &one, w, int(ldw ? ldw : k), x, int(ldx),
                    &zero, y, int(ldy)),
        "cublasSgemm");
  if (bias || act != Unary::identity) {
    bias_activation_f32(y, ldy, bias, m, n, act, stream());
    check_launch("bias and activation");
  }
}

void register_gemm_kernels() {
  register_kernel("Linear", [](const KernelInit& init) {
    const Unary act = activation_of(init.node.attr_string("activation"));
    return kernel([act](const NodeShapes& s) {
      const int64_t n = s.in[1].shape[0], k = s.in[1].shape[1], m = s.in[0].shape.numel() / k;
      const bool bias = s.in.size() > 2 && s.in[2].present;
      return invocation([=](const Buffers& io) {
        linear_f32(io.in_as<float>(0), m, k, k, io.in_as<float>(1), n, bias ? io.in_as<float>(2) : nullptr,
                   io.out_as<float>(0), n, act);
      });
    });
  });
  register_kernel("MatMul", [](const KernelInit& init) {
    const bool ta = init.node.attr_int("transpose_a"), tb = init.node.attr_int("transpose_b");
    return kernel([ta, tb](const NodeShapes& s) {
      const Shape &a = s.in[0].shape, &b = s.in[1].shape, &out = s.out[0].shape;
      const int64_t m = out[out.rank() - 2], n = out[out.rank() - 1];
      const int64_t k = ta ? a[a.rank() - 2] : a[a.rank() - 1];
      const int64_t lda = a[a.rank() - 1], ldb = b[b.rank() - 1];
      BatchPlan p = plan_batches(a, b, out, a[a.rank() - 2] * lda, b[b.rank() - 2] * ldb);
      const int64_t count = int64_t(p.a.size());
      return invocation([=](const Buffers& io) {
        const float one = 1.f, zero = 0.f;
        const float *pa = io.in_as<float>(0), *pb = io.in_as<float>(1);
        float* pc = io.out_as<float>(0);
        if (m == 0 || n == 0) return;
        // Column-major: C^T [n, m] = op(B)^T [n, k] . op(A)^T [k, m].
        const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
        if (p.uniform) {
          check(cublasSgemmStridedBatched(cublas(), opb, opa, int(n), int(m), int(k), &one, pb, int(ldb), p.stride_b, pa,
                                          int(lda), p.stride_a, &zero, pc, int(n), m * n, int(count)),
                "cublasSgemmStridedBatched");
          return;
        }
        for (int64_t i = 0; i < count; ++i)
          check(cublasSgemm(cublas(), opb, opa, int(n), int(m), int(k), &one, pb + p.b[size_t(i)], int(ldb),
                            pa + p.a[size_t(i)], int(lda), &zero, pc + i * m * n, int(n)),
                "cublasSgemm");
      });
    });
  });
}

}  // namespace heed::cuda
