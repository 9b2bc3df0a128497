#pragma once
// Graph rewrites done once at load, backend-independent math:
//   BatchNorm2d after a Conv2d folds into the conv's weight and bias;
//   Add of a Conv2d's output and another tensor becomes the conv's residual input;
//   Relu after a Conv2d becomes the conv's activation.
// Each applies only when the intermediate value has no other reader and is not a
// graph output, and (for folding) when every tensor involved is a constant.
#include <string>

#include "engine/graph.h"
#include "engine/validate.h"

namespace heed::ir {

struct OptimizeReport {
  int folded_batch_norms = 0, fused_adds = 0, fused_relus = 0;
  bool changed() const { return folded_batch_norms + fused_adds + fused_relus > 0; }
};

OptimizeReport optimize_graph(Graph& g, const WeightLookup& weights);

}  // namespace heed::ir
