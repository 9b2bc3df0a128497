#pragma once
// y [m, n] = x [m, k] . W^T (+ bias) for a constant PyTorch-layout weight W
// [n, k], as attention's projections need. The weight is reordered once, at
// load, into the blocked layout oneDNN prefers for it when it prefers one
// (AVX-512 brgemm: at 32 rows that runs about 3x the strided matmul over the
// weight in place), else read where it is. A ProjectionWeight is immutable and
// shared by every session; a Projection is one invocation's primitive for m
// rows, with its own scratchpad. run() does not allocate.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace heed::cpu {

class ProjectionWeight {
 public:
  // `w` stays valid as long as `keep_alive` (nullptr: as long as the model).
  ProjectionWeight(const float* w, int64_t n, int64_t k, std::shared_ptr<const void> keep_alive = nullptr);

 private:
  friend class Projection;
  int64_t n_, k_;
  const float* plain_;
  std::shared_ptr<const void> keep_alive_;
  dnnl::memory::desc md_;  // the packed layout, or PyTorch's (plain_)
  dnnl::memory packed_;    // empty when plain
};

class Projection {
 public:
  Projection() = default;
  Projection(std::shared_ptr<const ProjectionWeight> weight, int64_t m, bool bias);
  bool valid() const { return bool(prim_); }
  void run(const float* x, float* y, const float* bias);

 private:
  std::shared_ptr<const ProjectionWeight> weight_;
  dnnl::primitive prim_;
  dnnl::memory x_, y_, bias_, w_, scratch_;
  dnnl::stream stream_;
  std::vector<dnnl_exec_arg_t> args_;
};

}  // namespace heed::cpu
