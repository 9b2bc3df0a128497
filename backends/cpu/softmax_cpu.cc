// Softmax on oneDNN, any axis. LogSoftmax is our own loop: oneDNN's log is off by
// up to 3e-6 absolute, too far from PyTorch for log-probabilities; one exact
// std::log per row costs little. A mask is added first (oneDNN's softmax takes
// none); rows the mask hides entirely, all -inf, would give NaN, so they are set
// to probability 0 (log-probability -inf) instead. Rows with a NaN or +inf, or
// (without a mask) all -inf, come out NaN, as in PyTorch: oneDNN gives zeros.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"
#include "backends/cpu/dnnl_util.h"
#include "engine/fast_math.h"

namespace heed::cpu {
namespace {

// Whether softmax(row) is NaN in PyTorch: a NaN or +inf in it, or every entry -inf.
bool undefined_row(const float* p, int64_t n, int64_t stride) {
  bool all_neg_inf = true;
  for (int64_t j = 0; j < n; ++j) {
    const float v = p[j * stride];
    if (v != v || v == INFINITY) return true;
    all_neg_inf &= v == -INFINITY;
  }
  return all_neg_inf && n > 0;
}

void fill_row(float* p, int64_t n, int64_t stride, float value) {
  for (int64_t j = 0; j < n; ++j) p[j * stride] = value;
}

// oneDNN's softmax, then PyTorch's NaN rows (the input is read once more).
class PlainSoftmax final : public Invocation {
 public:
  PlainSoftmax(std::unique_ptr<Invocation> softmax, Rows rows) : softmax_(std::move(softmax)), rows_(rows) {}
  void run(const Buffers& io) override {
    softmax_->run(io);
    const float* x = io.in_as<float>(0);
    float* y = io.out_as<float>(0);
    for (int64_t row = 0; row < rows_.count(); ++row)
      if (undefined_row(x + rows_.base(row), rows_.n, rows_.inner)) fill_row(y + rows_.base(row), rows_.n, rows_.inner, NAN);
  }

 private:
  std::unique_ptr<Invocation> softmax_;
  Rows rows_;
};

class MaskedSoftmax final : public Invocation {
 public:
  MaskedSoftmax(std::unique_ptr<Invocation> softmax, NodeShapes s, Rows rows, bool log)
      : softmax_(std::move(softmax)), s_(std::move(s)), rows_(rows), log_(log),
        hidden_(size_t(rows.count())) {}

  void run(const Buffers& io) override {
    float* y = io.out_as<float>(0);
    broadcast_binary(io.in_as<float>(0), s_.in[0].shape, io.in_as<float>(1), s_.in[1].shape, y,
                     s_.out[0].shape, [](float a, float b) { return a + b; });
    const Rows r = rows_;
    uint8_t* hidden = hidden_.data();
#pragma omp parallel for if (r.count() > 4096)
    for (int64_t row = 0; row < r.count(); ++row) {
      const float* p = y + r.base(row);
      bool all_hidden = true;
      for (int64_t j = 0; j < r.n && all_hidden; ++j) all_hidden = p[j * r.inner] == -INFINITY;
      hidden[row] = all_hidden ? 1 : undefined_row(p, r.n, r.inner) ? 2 : 0;  // 2: NaN, as PyTorch
    }
    Buffers in_place{io.values, io.out_ids, io.out_ids, 1};  // softmax reads and writes y
    softmax_->run(in_place);
    const float fill = log_ ? -INFINITY : 0.f;
    for (int64_t row = 0; row < r.count(); ++row)
      if (hidden[row]) fill_row(y + r.base(row), r.n, r.inner, hidden[row] == 1 ? fill : NAN);
  }

 private:
  std::unique_ptr<Invocation> softmax_;
  NodeShapes s_;
  Rows rows_;
  bool log_;
  std::vector<uint8_t> hidden_;
};

std::unique_ptr<Invocation> dnnl_softmax(const Shape& shape, int axis) {
  auto md = plain_desc(DType::f32, shape);
  auto inv = dnnl_invocation<dnnl::softmax_forward>(dnnl::softmax_forward::primitive_desc(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, axis), scratchpad_attr(),
      cpu_engine()));
  inv->bind_input(DNNL_ARG_SRC, md, 0);
  inv->bind_output(DNNL_ARG_DST, md, 0);
  return inv;
}

// y = (x - max) - log(sum(exp(x - max))) per row; in place is fine. The
// subtraction of the max comes first: max + log(sum) would round to the float
// grid at max's magnitude (2.4e-4 at 1e4), the error PyTorch's order avoids.
std::unique_ptr<Invocation> log_softmax(const Rows& r) {
  return invocation([r](const Buffers& io) {
    const float* x = io.in_as<float>(0);
    float* y = io.out_as<float>(0);
#pragma omp parallel for if (r.count() * r.n > 16384)
    for (int64_t row = 0; row < r.count(); ++row) {
      const float* p = x + r.base(row);
      float* q = y + r.base(row);
      const int64_t st = r.inner;
      float max = -INFINITY;
      for (int64_t j = 0; j < r.n; ++j) max = p[j * st] > max || std::isnan(p[j * st]) ? p[j * st] : max;  // NaN spreads to the row
      float sum = 0.f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < r.n; ++j) sum += exp_approx(p[j * st] - max);
      const float log_sum = std::log(sum);
      for (int64_t j = 0; j < r.n; ++j) q[j * st] = (p[j * st] - max) - log_sum;
    }
  });
}

}  // namespace

void register_softmax_kernels() {
  for (bool log : {false, true})
    register_kernel(log ? "LogSoftmax" : "Softmax", [log](const KernelInit& init) {
      int64_t axis_attr = init.node.attr_int("axis");
      return kernel([log, axis_attr](const NodeShapes& s) -> std::unique_ptr<Invocation> {
        const Shape& shape = s.out[0].shape;
        if (shape.numel() == 0) return invocation([](const Buffers&) {});
        int axis = int(axis_attr < 0 ? axis_attr + shape.rank() : axis_attr);
        auto softmax = log ? log_softmax(rows_of(shape, axis)) : dnnl_softmax(shape, axis);
        if (s.in.size() < 2 || !s.in[1].present)
          return log ? std::move(softmax) : std::make_unique<PlainSoftmax>(std::move(softmax), rows_of(shape, axis));
        return std::make_unique<MaskedSoftmax>(std::move(softmax), s, rows_of(shape, axis_attr), log);
      });
    });
}

}  // namespace heed::cpu
