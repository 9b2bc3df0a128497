#pragma once
// Which weights projections multiply by, and in which channel axis
// (OpDef::weight_axis): what `heed quantize` stores in int8/bf16, and what a
// load in a precision stores once when a lookup reads it too.
#include <heed/model.h>

#include <map>
#include <set>
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

// Per weight, the channel axes of the projections that multiply by it.
std::map<std::string, std::set<int>> projection_axes(const ir::GraphFile& graphs, const WeightStore& weights);

// Loading an fp32 model in `precision` (int8, bf16) on the CPU: a table that a
// Gather or Embedding reads by rows and a projection multiplies by along the same
// axis (Marian's embeddings, tied to its output projection) is stored in the
// precision once, as `heed quantize` stores it. The projection packs the stored
// form, the lookup makes each row it reads from it (as CTranslate2's int8 does),
// and the fp32 table's pages leave memory: 4x (2x) fewer bytes held for it.
// Returns how many tables it stored.
int store_tied_tables(const ir::GraphFile& graphs, WeightStore& weights, Precision precision);

}  // namespace heed
