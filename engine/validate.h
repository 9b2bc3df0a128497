#pragma once
// Load-time checks of a graph: every name defined once, every op known with the
// right arity and attributes, no cycle, every weight present, every shape and
// dtype inferred. Errors name the graph, node, op and shapes.
#include <functional>
#include <map>
#include <string>

#include "engine/graph.h"

namespace heed::ir {

// Returns the type of a weight, or nullptr when the store has no such tensor.
using WeightLookup = std::function<const Tensor*(const std::string&)>;

// Sorts g.nodes topologically, fills attribute defaults and returns every value's type.
std::map<std::string, ValueType> validate_graph(Graph& g, const WeightLookup& weights,
                                                const std::string& weights_source);

// Runs the shape rules again with the given types of the graph's inputs;
// `refine`, when given, sees each node's output types before later nodes read them.
std::map<std::string, ValueType> infer_types(const Graph& g, const WeightLookup& weights,
                                             const std::map<std::string, ValueType>& input_types,
                                             const std::function<void(ValueType&)>& refine = {});

// One node's output types from its inputs' (null: an optional input left out),
// its attribute defaults filled in: for importers that type values as they
// build a graph. Errors name `g` and the node.
std::vector<ValueType> infer_node(const Graph& g, Node& n, const std::vector<const ValueType*>& inputs);

}  // namespace heed::ir
