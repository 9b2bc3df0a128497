#pragma once
// Builds IR graphs in code, for importers that turn a checkpoint layout into heed graphs.
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/graph.h"

namespace heed {

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name) { g_.name = std::move(name); }

  std::string input(const std::string& name, DType dtype, std::vector<ir::Dim> shape) {
    g_.inputs.push_back({name, {dtype, std::move(shape)}});
    return name;
  }
  std::string param(const std::string& weight) {
    if (params_.insert(weight).second) g_.parameters.push_back({weight, weight});
    return weight;
  }
  std::string constant(const std::string& name, Tensor value) {
    g_.constants.push_back({name, std::move(value)});
    return name;
  }
  // Adds a node named `name` whose single output is also called `name`.
  std::string node(const std::string& name, const std::string& op, std::vector<std::string> inputs,
                   std::map<std::string, ir::AttrValue> attrs = {}) {
    g_.nodes.push_back({name, op, std::move(inputs), {name}, std::move(attrs)});
    return name;
  }
  ir::Node& last() { return g_.nodes.back(); }
  void drop_last() { g_.nodes.pop_back(); }
  void output(const std::string& value) { g_.outputs.push_back(value); }
  ir::Graph take() { return std::move(g_); }

 private:
  ir::Graph g_;
  std::unordered_set<std::string> params_;  // a set, not a scan: loading stays linear in the layer count
};

}  // namespace heed
