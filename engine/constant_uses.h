#pragma once
// Which weights the compiled kernels still need. Every node input of every graph
// that names a weight is counted before compiling; once the last of those nodes
// has made its kernel and none reads the weight when it runs (it packed a copy
// of its own: Kernel::reads_constant), the weight's data leaves memory. So an
// ONNX file's MatMul weights, copied at import where the file has them
// unaligned, never all exist beside their packed copies. CPU only: a device
// backend copies every constant to its memory in any case.
#include <map>
#include <set>

#include "engine/backend.h"
#include "engine/graph.h"
#include "engine/weights.h"

namespace heed {

class ConstantUses {
 public:
  explicit ConstantUses(WeightStore& weights) : weights_(weights) {}
  // Before compiling `g`.
  void count(const ir::Graph& g);
  // Once every graph is counted: frees the weights no graph names (an importer's
  // originals of what it rewrote), before the kernels pack the rest.
  void free_unnamed();
  // After each kernel is made.
  void kernel_made(const KernelInit& init, const Kernel& kernel);
  // The weights and graph constants some kernel reads at run time, or that a graph returns.
  const std::set<const Tensor*>& read() const { return read_; }
  // Once every graph is compiled: frees the rest (the weights no graph names too).
  void free_unread() { weights_.free_all_but(read_); }

 private:
  WeightStore& weights_;
  std::map<const Tensor*, int> pending_;  // node inputs not yet compiled
  std::set<const Tensor*> read_;
};

}  // namespace heed
