#pragma once
// Show, Attend and Tell captioning models in the layout of the PyTorch tutorial
// (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning; python/show_attend_tell.py
// mirrors it): config.json ("model_type": "show_attend_tell") + model.safetensors
// + word_map.json. Weights and computation: docs/models.md. Produces:
//   encoder      image [batch, 3, height, width]
//                -> features [batch, pixels, encoder_dim], att1 (encoder_att of the
//                   features) [batch, pixels, attention_dim], h, c [batch, decoder_dim]
//   decoder_step input_ids [batch, 1], h, c, features, att1
//                -> logits [batch, vocab], h_out, c_out, attention (alpha) [batch, pixels]
// The decoder's recurrent state is every input X with an output X_out.
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

ir::GraphFile import_show_attend_tell(const std::string& dir, WeightStore& weights);

}  // namespace heed
