#pragma once
// The attention fusion the ONNX importer runs on the graph it built (onnx_attention.cc).
#include <map>
#include <string>

#include "engine/graph.h"
#include "engine/weights.h"

namespace heed::onnx_import {

// Rewrites each exported attention (MatMul, scale, mask, Softmax, MatMul) into
// one ScaledDotProductAttention node; returns how many. `types`: of every value
// the graph computes. The nodes left unread are removed afterwards.
int fuse_attention(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types);

}  // namespace heed::onnx_import
