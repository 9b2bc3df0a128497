#pragma once
// `heed quantize --precision int8 --calibrate FILE...`: the ranges of a graph's
// activations over sample inputs, so that int8 convolutions run at fixed scales
// and pass u8/i8 values from one to the next (engine/quantized_values.h), as
// PyTorch's static quantization does, instead of measuring each input's range
// on every run.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/graph.h"
#include "engine/weights.h"

namespace heed {

struct Calibration {
  std::vector<std::string> inputs;  // safetensors files, each one tensor per graph input (as `heed run --inputs`)
  std::string graph;                // "": the model's only graph, or "main"
};

// Runs `model` (fp32; `extra_weights` as LoadOptions::weights) on every file of
// `c` and returns [min, max] over all of them of each rank-4 f32 value of the
// graph (its inputs and node outputs): the activations of convolution stacks.
// `prepare` readies each graph as the quantized file will store it (validated,
// optimized), so that value names match. Throws heed::Error naming the file on
// unreadable or mismatched inputs and the value on inf or NaN.
using GraphPrepare = std::function<void(ir::Graph&, WeightStore&)>;
std::map<std::string, std::pair<float, float>> calibrate(const std::string& model, const std::string& extra_weights,
                                                         const Calibration& c, const GraphPrepare& prepare);

}  // namespace heed
