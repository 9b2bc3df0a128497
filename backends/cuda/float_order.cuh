#pragma once
// Float orders as PyTorch ranks them: a NaN wins a max or a min (fmaxf and
// fminf would drop it) and ranks above every number in ArgMax and TopK.
namespace heed::cuda {

__device__ inline float max_nan(float a, float b) { return a > b || a != a ? a : b; }
__device__ inline float min_nan(float a, float b) { return a < b || a != a ? a : b; }
// Whether a comes strictly before b in a descending order with NaN first.
__device__ inline bool ranks_above(float a, float b) { return a > b || (a != a && b == b); }

}  // namespace heed::cuda
