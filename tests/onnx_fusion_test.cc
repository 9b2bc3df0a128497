// Which attention fusions an imported model gets (loaders/onnx/onnx_attention.cc,
// onnx_mha.cc): whole attention blocks into MultiHeadAttention where the export
// has the plain projection / head-split / merge / output-projection form, the
// attention alone into ScaledDotProductAttention where it has not. Their outputs
// are checked against onnxruntime by onnx_test.cc and onnx_dynamic_test.cc.
#include <gtest/gtest.h>

#include <heed/model.h>

#include <string>

#include "tests/test_util.h"

namespace heed {
namespace {

int nodes_with_op(const std::string& description, const std::string& op) {
  int count = 0;
  for (size_t at = description.find("\n  " + op + " "); at != std::string::npos;
       at = description.find("\n  " + op + " ", at + 1))
    ++count;
  return count;
}

struct FusionCase {
  const char* model;
  int multi_head, scaled_dot_product;
  int transposes = 0;  // left over: ViT's patches to tokens, GPT-2's new keys and values to heads
};

class OnnxFusion : public ::testing::TestWithParam<FusionCase> {};

TEST_P(OnnxFusion, AttentionFusesAsFarAsTheExportAllows) {
  const std::string described = Model::load(test::fixture(std::string("onnx/") + GetParam().model + ".onnx")).describe();
  EXPECT_EQ(nodes_with_op(described, "MultiHeadAttention"), GetParam().multi_head) << described;
  EXPECT_EQ(nodes_with_op(described, "ScaledDotProductAttention"), GetParam().scaled_dot_product) << described;
  // The head splits and merges went with the projections.
  EXPECT_EQ(nodes_with_op(described, "Transpose"), GetParam().transposes) << described;
}

// Two layers each; the hand-written block (`attention`) has one, Marian's decoder a
// causal self-attention and a cross-attention over the encoder's states a layer. GPT-2's packed c_attn
// (one Gemm on [B * T, E], then Split) fuses as in_proj. Dynamic-axes exports fuse too: their
// head splits reshape to shapes computed from the input's, whose dims the importer names and
// follows (through a broadcast with a sliced position table, and a context's `q.size(2)`).
// GPT-2 with a past: the keys and values stay the graph's (present = Concat(past, new), a
// graph output); the query's projection, the attention and the output projection fuse.
INSTANTIATE_TEST_SUITE_P(Exports, OnnxFusion,
                         ::testing::Values(FusionCase{"attention", 1, 0}, FusionCase{"bert", 2, 0},
                                           FusionCase{"bert_fixed", 2, 0}, FusionCase{"vit", 2, 0, 1},
                                           FusionCase{"marian_encoder", 2, 0},
                                           FusionCase{"marian_fixed_decoder", 4, 0}, FusionCase{"gpt2", 2, 0},
                                           FusionCase{"gpt2_past", 2, 0, 4},
                                           FusionCase{"bert_dynamic", 2, 0},
                                           FusionCase{"marian_dynamic_encoder", 2, 0},
                                           FusionCase{"marian_dynamic_decoder", 4, 0}),
                         [](const auto& info) { return std::string(info.param.model); });

}  // namespace
}  // namespace heed
