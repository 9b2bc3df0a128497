#pragma once
// The attention fusions the ONNX importer runs on the graph it built (onnx_attention.cc, onnx_mha.cc).
#include <map>
#include <string>

#include "engine/graph.h"
#include "engine/weights.h"

namespace heed::onnx_import {

// Rewrites each exported attention (MatMul, scale, mask, Softmax, MatMul) into
// one ScaledDotProductAttention node; returns how many. `types`: of every value
// the graph computes. The nodes left unread are removed afterwards.
int fuse_attention(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types);

// Moves each Gather(Shape(v), i) of a named dim to the first value the dim
// appears in (onnx_dim_reads.cc), so that the blocks fuse_multi_head_attention
// would remove are read by the block alone; returns how many moved.
int move_dim_reads(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types);

// Then rewrites each ScaledDotProductAttention whose q, k and v are head splits
// of Linear projections and whose context goes through the merge into an output
// Linear into one MultiHeadAttention (onnx_mha.cc); returns how many. `weights`
// gains [out, in] copies of the [in, out] projection weights it fuses.
int fuse_multi_head_attention(ir::Graph& g, WeightStore& weights, const std::map<std::string, ir::ValueType>& types);

}  // namespace heed::onnx_import
