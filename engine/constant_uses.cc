#include "engine/constant_uses.h"

namespace heed {

void ConstantUses::count(const ir::Graph& g) {
  std::map<std::string, const Tensor*> params;
  for (const ir::Parameter& p : g.parameters)
    if (const Tensor* t = weights_.find(p.weight)) params[p.name] = t;
  for (const ir::Node& n : g.nodes)
    for (const std::string& in : n.inputs)
      if (auto p = params.find(in); p != params.end()) ++pending_[p->second];
  for (const std::string& out : g.outputs)
    if (auto p = params.find(out); p != params.end()) read_.insert(p->second);
}

void ConstantUses::free_unnamed() {
  std::set<const Tensor*> named = read_;
  for (const auto& [t, count] : pending_) named.insert(t);
  weights_.free_all_but(named);
}

void ConstantUses::kernel_made(const KernelInit& init, const Kernel& kernel) {
  for (size_t i = 0; i < init.constants.size(); ++i) {
    const Tensor* t = init.constants[i];
    if (!t) continue;
    if (kernel.reads_constant(i)) read_.insert(t);  // a weight, or a graph's own constant
    else weights_.release_pages(t);  // packed: what it read of the file need not stay resident meanwhile
    auto pending = pending_.find(t);
    if (pending == pending_.end()) continue;
    if (--pending->second == 0 && !read_.count(t)) weights_.free(t);
  }
}

}  // namespace heed
