#pragma once
// Show, Ask, Attend and Answer VQA models in the layout of Cyanogenoid/pytorch-vqa
// (python/pytorch_vqa.py mirrors it): config.json ("model_type": "pytorch_vqa") +
// model.safetensors + vocab.json ({"question": {token: id}, "answer": {answer: id}}).
// Weights and computation: docs/models.md. Produces:
//   image_features  (when the weights include a ResNet trunk under "resnet.")
//                   image [batch, 3, height, width] -> features [batch, vision_features, h, w]
//   answer          features [batch, vision_features, h, w], question [batch, words] (i64),
//                   question_lengths [batch] (i64, 1..words)
//                   -> logits [batch, max_answers], attention [batch, glimpses, h * w]
#include <string>

#include "engine/graph_json.h"
#include "engine/weights.h"

namespace heed {

ir::GraphFile import_pytorch_vqa(const std::string& dir, WeightStore& weights);

}  // namespace heed
