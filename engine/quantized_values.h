#pragma once
// int8 with calibrated activation ranges (`heed quantize --calibrate`): which
// of a plan's values are stored quantized (u8 when their range is nonnegative,
// as after a ReLU, else i8; scale max / 255 or max|x| / 127) instead of fp32,
// so that a stack of int8 convolutions passes integers from one to the next as
// PyTorch's static quantization does, and which fp32 values kernels quantize
// at a fixed scale instead of measuring each run.
//
// A value is stored quantized when it has a range, is channels last (the int8
// convolutions' layout), is not a graph output, its producer writes it so and
// every reader reads it so (Kernel::quantized_io); then, until nothing changes,
// a value whose producer needs an input quantized that is not loses it.
#include "engine/compiled_graph.h"

namespace heed {

void choose_quantized_values(const CompiledGraph& graph, ShapePlan& plan);

}  // namespace heed
