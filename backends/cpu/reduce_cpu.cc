// ReduceSum / ReduceMean / ReduceMax / ReduceProd. When the reduced axes form one run (the
// usual case: a channel norm, a mean over positions), x is [outer, n, inner]
// and heed's own loops stream it once, vectorized along `inner` (or along n when
// inner is 1), in parallel; oneDNN's reduction walked such a middle axis at
// 7 ns an element. Other axis sets go to oneDNN, with the reduced dims kept as 1.
#include <algorithm>
#include <cmath>
#include <optional>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

enum class Reduce { sum, mean, max, prod };

float identity_of(Reduce op) { return op == Reduce::max ? -INFINITY : op == Reduce::prod ? 1.f : 0.f; }

// x as [outer, n, inner] when the axes reduced from x to kept are one run (size-1 dims ignored).
std::optional<Rows> single_run(const Shape& x, const Shape& kept) {
  int first = -1, last = -1;
  for (int i = 0; i < x.rank(); ++i)
    if (x[i] != 1 && kept[i] == 1) {
      if (first < 0) first = i;
      last = i;
    }
  Rows r{1, 1, 1};
  for (int i = 0; i < x.rank(); ++i) {
    if (i < first) r.outer *= x[i];
    else if (i > last) r.inner *= x[i];
    else if (kept[i] != 1 && x[i] != 1) return std::nullopt;  // a kept axis inside the run
    else r.n *= x[i];
  }
  return r;
}

float combine(Reduce op, float acc, float v) {
  if (op == Reduce::prod) return acc * v;
  if (op != Reduce::max) return acc + v;
  return (v > acc || std::isnan(v)) ? v : acc;  // NaN wins, as PyTorch
}

// inner == 1: each output is a contiguous run of n values.
void reduce_runs(const float* x, float* y, const Rows& r, Reduce op) {
#pragma omp parallel for if (r.outer * r.n > 32768)
  for (int64_t o = 0; o < r.outer; ++o) {
    const float* p = x + o * r.n;
    float acc;
    if (op == Reduce::max || op == Reduce::prod) {
      acc = identity_of(op);
      for (int64_t j = 0; j < r.n; ++j) acc = combine(op, acc, p[j]);
    } else {
      acc = 0.f;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < r.n; ++j) acc += p[j];
    }
    y[o] = op == Reduce::mean ? acc / float(r.n) : acc;
  }
}

// inner > 1: outputs are a row of `inner` values, accumulated over n rows.
void reduce_columns(const float* x, float* y, const Rows& r, Reduce op) {
  constexpr int64_t kChunk = 512;  // accumulators kept in L1 while the rows stream by
  const int64_t chunks = (r.inner + kChunk - 1) / kChunk;
#pragma omp parallel for if (r.outer * r.n * r.inner > 32768)
  for (int64_t task = 0; task < r.outer * chunks; ++task) {
    const int64_t o = task / chunks, begin = (task % chunks) * kChunk, len = std::min(kChunk, r.inner - begin);
    float* out = y + o * r.inner + begin;
    std::fill(out, out + len, identity_of(op));
    for (int64_t j = 0; j < r.n; ++j) {
      const float* p = x + (o * r.n + j) * r.inner + begin;
      if (op == Reduce::max || op == Reduce::prod) {
        for (int64_t i = 0; i < len; ++i) out[i] = combine(op, out[i], p[i]);
      } else {
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) out[i] += p[i];
      }
    }
    if (op == Reduce::mean)
      for (int64_t i = 0; i < len; ++i) out[i] /= float(r.n);
  }
}

std::unique_ptr<Invocation> onednn_reduction(dnnl::algorithm alg, const Shape& x, const Shape& kept) {
  auto src = plain_desc(DType::f32, x), dst = plain_desc(DType::f32, kept);
  dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(alg, src, dst, 0.f, 0.f), scratchpad_attr(), cpu_engine());
  auto inv = dnnl_invocation<dnnl::reduction>(pd);
  inv->bind_input(DNNL_ARG_SRC, src, 0);
  inv->bind_output(DNNL_ARG_DST, dst, 0);
  return inv;
}

// Non-empty outputs over an empty axis (the session skips empty outputs): a sum
// of nothing is 0, a product 1 and a mean NaN, as in PyTorch; a max is undefined.
std::unique_ptr<Invocation> empty_reduction(Reduce op, int64_t n) {
  if (op == Reduce::max) throw Error("the reduced axes are empty: a max of no elements is undefined");
  const float value = op == Reduce::mean ? NAN : identity_of(op);
  return invocation([n, value](const Buffers& io) { std::fill_n(io.out_as<float>(0), n, value); });
}

// Max or product over axes that are not one run (rare): every element visited
// once, combined into its output (a max with NaN propagation).
std::unique_ptr<Invocation> strided_combine(Reduce op, const Shape& x, const Shape& kept) {
  Shape to_out = kept;  // per x dim: its stride in the output, 0 where reduced
  int64_t stride = 1;
  for (int i = x.rank() - 1; i >= 0; --i) {
    to_out[i] = kept[i] == 1 && x[i] != 1 ? 0 : stride;
    stride *= kept[i];
  }
  return invocation([op, x, kept, to_out](const Buffers& io) {
    const float* in = io.in_as<float>(0);
    float* out = io.out_as<float>(0);
    std::fill_n(out, kept.numel(), identity_of(op));
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      int64_t rest = i, o = 0;
      for (int d = x.rank() - 1; d >= 0; --d) {
        o += rest % x[d] * to_out[d];
        rest /= x[d];
      }
      out[o] = combine(op, out[o], in[i]);
    }
  });
}

}  // namespace

void register_reduce_kernels() {
  for (std::string name : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceProd"})
    register_kernel(name, [name](const KernelInit& init) {
      const Reduce op = name == "ReduceSum"    ? Reduce::sum
                        : name == "ReduceMean" ? Reduce::mean
                        : name == "ReduceMax"  ? Reduce::max
                                               : Reduce::prod;
      std::vector<int64_t> axes = init.node.attr_ints("axes");
      return kernel([op, axes](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape& x = s.in[0].shape;
        Shape kept = x;
        for (int i = 0; i < x.rank(); ++i) kept[i] = axes.empty() ? 1 : x[i];
        for (int64_t a : axes) kept[int(a < 0 ? a + x.rank() : a)] = 1;
        if (x.numel() == 0) return empty_reduction(op, s.out[0].shape.numel());
        if (kept == x) {  // nothing to reduce: copy
          size_t bytes = s.out[0].nbytes();
          return invocation([bytes](const Buffers& io) { std::memcpy(io.out(0), io.in(0), bytes); });
        }
        if (std::optional<Rows> r = single_run(x, kept))
          return invocation([op, r = *r](const Buffers& io) {
            const float* in = static_cast<const float*>(io.in(0));
            float* out = static_cast<float*>(io.out(0));
            r.inner == 1 ? reduce_runs(in, out, r, op) : reduce_columns(in, out, r, op);
          });
        if (op == Reduce::max || op == Reduce::prod) return strided_combine(op, x, kept);  // oneDNN's max drops NaN
        return onednn_reduction(op == Reduce::sum ? dnnl::algorithm::reduction_sum : dnnl::algorithm::reduction_mean,
                                x, kept);
      });
    });
}

}  // namespace heed::cpu
