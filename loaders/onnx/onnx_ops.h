#pragma once
// ONNX op translators (onnx_ops.cc: one function per op or family, registered
// by op_type) and load-time folding of what depends only on known values
// (onnx_fold.cc).
#include <functional>
#include <map>
#include <string>

#include "loaders/onnx/onnx_graph.h"

namespace heed::onnx_import {

using Translator = std::function<void(NodeContext&)>;

// ONNX's least number of inputs for the op (1 for ops not listed); a node with
// fewer is refused before it is folded or translated.
size_t min_inputs(const std::string& op_type);
const Translator* find_translator(const std::string& op_type);

// The translators of shape arithmetic computed at run time (onnx_shape_ops.cc).
void add_shape_translators(std::map<std::string, Translator>& table);
// CumSum, Trilu, Tile, Pad, Size (onnx_scan_pad_ops.cc).
void add_scan_pad_translators(std::map<std::string, Translator>& table);
// LSTM and GRU (onnx_recurrent.cc).
void add_recurrent_translators(std::map<std::string, Translator>& table);
// Conv, ConvTranspose, BatchNormalization, pools (onnx_conv_ops.cc).
void add_conv_translators(std::map<std::string, Translator>& table);
// Einsum of one or two operands (onnx_einsum.cc).
void add_einsum_translator(std::map<std::string, Translator>& table);

// Folds the node when heed can compute it now: every input known (or, for
// Shape and Size, statically shaped) and the result small. False otherwise.
bool fold(NodeContext& c);

// Fusions that look ahead from this node; true when it emitted the whole pattern.
bool fuse(NodeContext& c);

}  // namespace heed::onnx_import
