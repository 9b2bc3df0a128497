#pragma once
// `heed quantize`: a model saved in heed's single-file form with its projection
// weights stored in int8 (per output channel, with their scales) or bf16
// (engine/stored_weight.h), so that the file is about a quarter (half) the size
// and loads without the fp32 weights.
//
// What is stored so: every weight some node multiplies by as a projection
// (OpDef::weight_axis: Linear, MatMul by a constant matrix, the attention
// projections, LSTMCell/GRUCell gates, Conv2d), in the one channel axis all its
// projections agree on. Such a weight is stored quantized even where another
// node also reads it (Marian's embeddings, tied to the output projection): that
// node reads the values it stands for, as CTranslate2's int8 models do. The
// rest (biases, norms, embeddings of their own, sequence LSTMs) stays fp32.
//
// The graphs are saved as the loader optimizes them (BatchNorm folded into the
// convolution before that is quantized), so that loading changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>

#include <heed/model.h>

#include "engine/calibrate.h"

namespace heed {

struct QuantizeSummary {
  size_t graphs = 0, stored = 0, kept = 0;  // weights stored in the precision, kept fp32
  uint64_t stored_bytes = 0, kept_bytes = 0, fp32_bytes = 0;  // fp32_bytes: the weights as they were
  size_t calibrated = 0;  // activation ranges stored (Calibration)
  std::string calibrated_graph;
};

// `model`: anything Model::load takes but a quantized file; `out`: a
// .safetensors file, or for a checkpoint directory, a directory of its own that
// gets heed.safetensors and the directory's other files (tokenizers, configs;
// not its weight files), so that translate/caption/vqa run it as they run the
// original. Throws heed::Error (naming the weight) on a weight int8 cannot
// hold (inf or NaN), or a model that does not load. `weights`: as LoadOptions::weights.
// `calibration` (int8 only): the graph's activation ranges over its inputs are
// stored with it (ir::Graph::activation_ranges), for static int8 convolutions.
QuantizeSummary quantize_model(const std::string& model, const std::string& out, Precision precision,
                               const std::string& weights = "", const Calibration* calibration = nullptr);

}  // namespace heed
