// ArgMax and TopK along an axis: one row at a time, rows split across threads.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

// Per-thread index buffers, sized at prepare so that run() never allocates.
class TopK final : public Invocation {
 public:
  TopK(Rows r, int64_t k, bool largest)
      : r_(r), k_(k), largest_(largest), scratch_(size_t(omp_get_max_threads()), std::vector<int64_t>(size_t(r.n))) {}

  void run(const Buffers& io) override {
    const float* x = io.in_as<float>(0);
    float* values = io.out_as<float>(0);
    int64_t* indices = io.out_as<int64_t>(1);
#pragma omp parallel for if (r_.count() > 16)
    for (int64_t row = 0; row < r_.count(); ++row) {
      std::vector<int64_t>& idx = scratch_[size_t(omp_get_thread_num())];
      const float* p = x + r_.base(row);
      int64_t stride = r_.inner;
      std::iota(idx.begin(), idx.end(), 0);
      // NaN ranks above every number, as in PyTorch (and keeps the order a
      // strict weak one, which partial_sort needs); ties keep the lower index first.
      auto above = [](float a, float b) { return a > b || (std::isnan(a) && !std::isnan(b)); };
      auto before = [&](int64_t a, int64_t b) {
        float va = p[a * stride], vb = p[b * stride];
        if (largest_ ? above(va, vb) : above(vb, va)) return true;
        if (largest_ ? above(vb, va) : above(va, vb)) return false;
        return a < b;
      };
      std::partial_sort(idx.begin(), idx.begin() + k_, idx.end(), before);
      int64_t out_base = (row / r_.inner) * k_ * r_.inner + row % r_.inner;
      for (int64_t j = 0; j < k_; ++j) {
        values[out_base + j * r_.inner] = p[idx[size_t(j)] * stride];
        indices[out_base + j * r_.inner] = idx[size_t(j)];
      }
    }
  }

 private:
  Rows r_;
  int64_t k_;
  bool largest_;
  std::vector<std::vector<int64_t>> scratch_;
};

}  // namespace

void register_argmax_topk_kernels() {
  register_kernel("ArgMax", [](const KernelInit& init) {
    int64_t axis = init.node.attr_int("axis");
    return kernel([axis](const NodeShapes& s) {
      Rows r = rows_of(s.in[0].shape, axis);
      if (r.n == 0) throw Error("the axis is empty: an arg max of no elements is undefined");
      return invocation([r](const Buffers& io) {
        const float* x = io.in_as<float>(0);
        int64_t* out = io.out_as<int64_t>(0);
#pragma omp parallel for if (r.count() * r.n > 65536)
        for (int64_t row = 0; row < r.count(); ++row) {
          const float* p = x + r.base(row);
          int64_t best = 0;  // the first maximum wins, and a NaN is the maximum, as in PyTorch
          for (int64_t j = 1; j < r.n && !std::isnan(p[best * r.inner]); ++j)
            if (p[j * r.inner] > p[best * r.inner] || std::isnan(p[j * r.inner])) best = j;
          out[row] = best;
        }
      });
    });
  });
  register_kernel("TopK", [](const KernelInit& init) {
    int64_t axis = init.node.attr_int("axis"), k = init.node.attr_int("k");
    bool largest = init.node.attr_int("largest");
    return kernel([=](const NodeShapes& s) {
      return std::make_unique<TopK>(rows_of(s.in[0].shape, axis), k, largest);
    });
  });
}

}  // namespace heed::cpu
