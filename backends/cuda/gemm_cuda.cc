// Linear and MatMul on cuBLAS: fp32 (no TF32) by default, or f16/bf16 tensor
// cores with fp32 accumulation and output (LoadOptions::gemm_dtype: inputs
// rounded per call, constant weights once at load). Linear's bias and
// activation run in one epilogue kernel.
#include <fmt/format.h>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_gemm.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/half.h"
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

// Rows of a Linear's input: every dim but the last (numel / k fails at k = 0).
int64_t leading_rows(const Shape& x) {
  int64_t m = 1;
  for (int d = 0; d + 1 < x.rank(); ++d) m *= x[d];
  return m;
}

// A product over k = 0 is zeros; cuBLAS refuses a leading dimension of 0.
void zero_rows(float* y, int64_t ldy, int64_t m, int64_t n) {
  check(cudaMemset2DAsync(y, size_t(ldy) * sizeof(float), 0, size_t(n) * sizeof(float), size_t(m), stream()),
        "zeroing a GEMM over no depth");
}

void bias_activation(float* y, int64_t ldy, const float* bias, int64_t m, int64_t n, Unary act) {
  if (!bias && act == Unary::identity) return;
  bias_activation_f32(y, ldy, bias, m, n, act, stream());
  check_launch("bias and activation");
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

class HalfLinear final : public Invocation {
 public:
  HalfLinear(DType dtype, std::shared_ptr<const HalfWeight> weight, Unary act, bool in_out, const NodeShapes& s)
      : dtype_(dtype), weight_(std::move(weight)), act_(act), in_out_(in_out) {
    n_ = s.in[1].shape[in_out ? 1 : 0], k_ = s.in[1].shape[in_out ? 0 : 1], m_ = leading_rows(s.in[0].shape);
    bias_ = present(s, 2);
    x_ = DeviceFloats(size_t(m_ * k_ + 1) / 2);
    if (!weight_) w_ = DeviceFloats(size_t(n_ * k_ + 1) / 2);
  }
  void run(const Buffers& io) override {
    if (m_ == 0 || n_ == 0) return;
    const uint16_t* w = weight_ ? weight_->get() : to_half(io.in_as<float>(1), n_ * k_, dtype_, w_);
    linear_half(dtype_, io.in_as<float>(0), m_, k_, w, n_, bias_ ? io.in_as<float>(2) : nullptr, io.out_as<float>(0), n_,
                x_, act_, in_out_);
  }

 private:
  DType dtype_;
  std::shared_ptr<const HalfWeight> weight_;
  Unary act_;
  bool in_out_;
  int64_t n_, k_, m_;
  bool bias_;
  DeviceFloats x_, w_;
};

}  // namespace

cudaDataType_t cuda_type(DType t) { return t == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F; }
static ScalarType scalar_of(DType t) { return t == DType::bf16 ? ScalarType::bf16 : ScalarType::f16; }

HalfWeight::HalfWeight(const Tensor& w, DType dtype) {
  std::vector<uint16_t> host(size_t(w.numel()));
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = dtype == DType::bf16 ? f32_to_bf16(w.data_as<float>()[i]) : f32_to_f16(w.data_as<float>()[i]);
  check(cudaMalloc(&p_, host.size() * 2), "cudaMalloc (f16/bf16 weight)");
  check(cudaMemcpy(p_, host.data(), host.size() * 2, cudaMemcpyHostToDevice), "uploading an f16/bf16 weight");
}
HalfWeight::~HalfWeight() { cudaFree(p_); }

const uint16_t* to_half(const float* x, int64_t n, DType dtype, const DeviceFloats& scratch) {
  cast(x, ScalarType::f32, scratch.get(), scalar_of(dtype), n, stream());
  check_launch("rounding a GEMM input to f16/bf16");
  return reinterpret_cast<const uint16_t*>(scratch.get());
}

void linear_half(DType dtype, const float* x, int64_t m, int64_t k, const uint16_t* w, int64_t n, const float* bias,
                 float* y, int64_t ldy, const DeviceFloats& x_half, Unary act, bool w_in_out) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    zero_rows(y, ldy, m, n);
    return bias_activation(y, ldy, bias, m, n, act);
  }
  const uint16_t* xh = to_half(x, m * k, dtype, x_half);
  const float one = 1.f, zero = 0.f;
  // A row-major [k, n] weight is column-major [n, k]: no transpose.
  check(cublasGemmEx(cublas(), w_in_out ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &one, w,
                     cuda_type(dtype), int(w_in_out ? n : k), xh,
                     cuda_type(dtype), int(k), &zero, y, CUDA_R_32F, int(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx (Linear)");
  bias_activation(y, ldy, bias, m, n, act);
}

namespace {

// MatMul with both operands rounded to f16/bf16 per call, fp32 accumulation and output.
std::unique_ptr<Invocation> half_matmul(const NodeShapes& s, const BatchPlan& p, bool ta, bool tb, int64_t m, int64_t n,
                                        int64_t k, int64_t lda, int64_t ldb, DType dtype) {
  const int64_t na = s.in[0].shape.numel(), nb = s.in[1].shape.numel(), count = int64_t(p.a.size());
  auto a_half = std::make_shared<DeviceFloats>(size_t(na + 1) / 2), b_half = std::make_shared<DeviceFloats>(size_t(nb + 1) / 2);
  return invocation([=](const Buffers& io) {
    if (m == 0 || n == 0 || count == 0) return;
    if (k == 0) return zero_rows(io.out_as<float>(0), n, count * m, n);
    const uint16_t* a = to_half(io.in_as<float>(0), na, dtype, *a_half);
    const uint16_t* b = to_half(io.in_as<float>(1), nb, dtype, *b_half);
    const float one = 1.f, zero = 0.f;
    const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    float* c = io.out_as<float>(0);
    const cudaDataType_t t = cuda_type(dtype);
    if (p.uniform) {
      check(cublasGemmStridedBatchedEx(cublas(), opb, opa, int(n), int(m), int(k), &one, b, t, int(ldb), p.stride_b, a, t,
                                       int(lda), p.stride_a, &zero, c, CUDA_R_32F, int(n), m * n, int(count),
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmStridedBatchedEx (MatMul)");
      return;
    }
    for (int64_t i = 0; i < count; ++i)
      check(cublasGemmEx(cublas(), opb, opa, int(n), int(m), int(k), &one, b + p.b[size_t(i)], t, int(ldb), a + p.a[size_t(i)],
                         t, int(lda), &zero, c + i * m * n, CUDA_R_32F, int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx (MatMul)");
  });
}

}  // namespace

void linear_f32(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, int64_t n, const float* bias, float* y,
                int64_t ldy, Unary act, int64_t ldw, bool w_in_out) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    zero_rows(y, ldy, m, n);
    return bias_activation(y, ldy, bias, m, n, act);
  }
  const float one = 1.f, zero = 0.f;
  // Column-major view: y^T [n, m] = W [n, k] . x^T [k, m] (a row-major [k, n] W is column-major [n, k]).
  check(cublasSgemm(cublas(), w_in_out ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &one, w,
                    int(ldw ? ldw : w_in_out ? n : k), x, int(ldx),
                    &zero, y, int(ldy)),
        "cublasSgemm");
  bias_activation(y, ldy, bias, m, n, act);
}

void register_gemm_kernels() {
  register_kernel("Linear", [](const KernelInit& init) {
    const Unary act = activation_of(init.node.attr_string("activation"));
    const bool in_out = init.node.attr_string("weight_layout") == "in_out";
    if (init.gemm_dtype != DType::f32) {
      std::shared_ptr<const HalfWeight> weight;
      if (init.constants[1]) weight = std::make_shared<const HalfWeight>(*init.constants[1], init.gemm_dtype);
      return kernel([act, in_out, weight, dtype = init.gemm_dtype](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        return std::make_unique<HalfLinear>(dtype, weight, act, in_out, s);
      });
    }
    return kernel([act, in_out](const NodeShapes& s) {
      const int64_t n = s.in[1].shape[in_out ? 1 : 0], k = s.in[1].shape[in_out ? 0 : 1], m = leading_rows(s.in[0].shape);
      const bool bias = s.in.size() > 2 && s.in[2].present;
      return invocation([=](const Buffers& io) {
        linear_f32(io.in_as<float>(0), m, k, k, io.in_as<float>(1), n, bias ? io.in_as<float>(2) : nullptr,
                   io.out_as<float>(0), n, act, 0, in_out);
      });
    });
  });
  register_kernel("MatMul", [](const KernelInit& init) {
    const bool ta = init.node.attr_int("transpose_a"), tb = init.node.attr_int("transpose_b");
    const DType dtype = init.gemm_dtype;
    return kernel([ta, tb, dtype](const NodeShapes& s) {
      const Shape &a = s.in[0].shape, &b = s.in[1].shape, &out = s.out[0].shape;
      const int64_t m = out[out.rank() - 2], n = out[out.rank() - 1];
      const int64_t k = ta ? a[a.rank() - 2] : a[a.rank() - 1];
      const int64_t lda = a[a.rank() - 1], ldb = b[b.rank() - 1];
      BatchPlan p = plan_batches(a, b, out, a[a.rank() - 2] * lda, b[b.rank() - 2] * ldb);
      const int64_t count = int64_t(p.a.size());
      if (dtype != DType::f32) return half_matmul(s, p, ta, tb, m, n, k, lda, ldb, dtype);
      return invocation([=](const Buffers& io) {
        const float one = 1.f, zero = 0.f;
        const float *pa = io.in_as<float>(0), *pb = io.in_as<float>(1);
        float* pc = io.out_as<float>(0);
        if (m == 0 || n == 0 || count == 0) return;
        if (k == 0) return zero_rows(pc, n, count * m, n);
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
