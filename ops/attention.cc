// The attention family: GlobalAttention (Luong/Bahdanau scores), LocalAttention
// (Luong local-m / local-p windows), MultiHeadAttention (PyTorch layout, KV cache).
#include <fmt/format.h>

#include "engine/op_def.h"
#include "ops/all_ops.h"
#include "ops/attention.h"

namespace heed::ops {
using namespace ir;

namespace {

void expect_f32_rank(InferContext& c, size_t i, int rank) {
  c.expect_dtype(i, {DType::f32});
  if (c.in(i).rank() != rank)
    c.fail(fmt::format("input {} '{}' has shape {}, expected rank {}", i, c.node().inputs[i],
                       shape_str(c.in(i).shape), rank));
}

void expect_shape(InferContext& c, size_t i, const SymShape& want) {
  const SymShape& got = c.in(i).shape;
  if (got.size() != want.size())
    c.fail(fmt::format("input {} '{}' has shape {}, expected {}", i, c.node().inputs[i], shape_str(got), shape_str(want)));
  for (size_t d = 0; d < got.size(); ++d)
    c.unify(got[d], want[d], fmt::format("input {} '{}' {} and expected {}", i, c.node().inputs[i], shape_str(got), shape_str(want)));
}

void expect_mask(InferContext& c, size_t i) {
  if (!c.has_input(i)) return;
  c.expect_dtype(i, {DType::f32, DType::boolean, DType::u8});
}

// query [B, T, Dq], keys [B, S, Dk], values [B, S, Dv] (inputs 0, 1, 2 of Global
// and Local attention): checks them and returns the batch dim.
Dim check_query_keys_values(InferContext& c) {
  for (size_t i : {0, 1, 2}) expect_f32_rank(c, i, 3);
  const SymShape &q = c.in(0).shape, &k = c.in(1).shape, &v = c.in(2).shape;
  c.unify(k[1], v[1], "lengths of keys and values");
  return c.unify(c.unify(q[0], k[0], "batch of query and keys"), v[0], "batch of keys and values");
}

// -> context [B, T, Dv], weights [B, T, S]
void infer_global(InferContext& c) {
  using namespace global_attention;
  Dim b = check_query_keys_values(c);
  const SymShape &q = c.in(kQuery).shape, &k = c.in(kKeys).shape, &v = c.in(kValues).shape;
  if (c.has_input(kMask)) {
    expect_mask(c, kMask);
    expect_shape(c, kMask, {b, k[1]});
  }
  const std::string& score = c.node().attr_string("score");
  if ((score == "dot" || score == "scaled_dot") && !(q[2] == k[2]))
    c.unify(q[2], k[2], "query and key sizes (dot scores need equal sizes)");
  if (score == "general") {
    if (!c.has_input(kScoreWeight)) c.fail("score 'general' needs input 4, W_a [key_size, query_size]");
    expect_shape(c, kScoreWeight, {k[2], q[2]});
  }
  if (score == "additive" || score == "concat") {
    if (!c.has_input(kScoreWeight) || !c.has_input(kScoreVector))
      c.fail("score '" + score + "' needs input 4, W [attn_size, query_size + key_size], and input 6, v [attn_size]");
    c.expect_dtype(kScoreWeight, {DType::f32});
    const SymShape& w = c.in(kScoreWeight).shape;
    if (w.size() != 2) c.fail("W " + shape_str(w) + " must be [attn_size, query_size + key_size]");
    if (q[2].is_known() && k[2].is_known())
      c.unify(w[1], Dim::known(q[2].value + k[2].value), "W's columns and query_size + key_size");
    if (c.has_input(kScoreBias)) expect_shape(c, kScoreBias, {w[0]});
    expect_shape(c, kScoreVector, {w[0]});
  }
  c.out(0) = {DType::f32, {b, q[1], v[2]}};
  if (c.outputs().size() > 1) c.out(1) = {DType::f32, {b, q[1], k[1]}};
}

// Weights: window-relative [B, T, left + right + 1], or [B, T, S] (weights = source).
void infer_local(InferContext& c) {
  using namespace local_attention;
  Dim b = check_query_keys_values(c);
  const SymShape &q = c.in(kQuery).shape, &k = c.in(kKeys).shape, &v = c.in(kValues).shape;
  int64_t left = c.node().attr_int("left"), right = c.node().attr_int("right");
  if (left < 0 || right < 0) c.fail(fmt::format("window extents must be >= 0, got left {} right {}", left, right));
  if (c.has_input(kLengths)) {
    c.expect_dtype(kLengths, {DType::i32, DType::i64});
    expect_shape(c, kLengths, {b});
  }
  const std::string& score = c.node().attr_string("score");
  if (score == "general") {
    if (!c.has_input(kScoreWeight)) c.fail("score 'general' needs input 4, W_a [key_size, query_size]");
    expect_shape(c, kScoreWeight, {k[2], q[2]});
  } else {
    c.unify(q[2], k[2], "query and key sizes (dot scores need equal sizes)");
  }
  if (c.node().attr_string("center") == "predictive") {
    if (!c.has_input(kPredictWeight) || !c.has_input(kPredictVector))
      c.fail("center 'predictive' needs input 5, W_p [hidden, query_size], and input 6, v_p [hidden]");
    c.expect_dtype(kPredictWeight, {DType::f32});
    const SymShape& wp = c.in(kPredictWeight).shape;
    if (wp.size() != 2) c.fail("W_p " + shape_str(wp) + " must be [hidden, query_size]");
    c.unify(wp[1], q[2], "W_p's columns and query_size");
    expect_shape(c, kPredictVector, {wp[0]});
  }
  c.out(0) = {DType::f32, {b, q[1], v[2]}};
  if (c.outputs().size() > 1)
    c.out(1) = {DType::f32, {b, q[1], c.node().attr_string("weights") == "source" ? k[1] : Dim::known(left + right + 1)}};
}

// Projected keys and values (and the key padding mask) may hold one row per
// group of query rows: query row b reads row b / (query batch / their batch),
// so the beams of one source share its cross-attention keys. Checked once both
// batches are known; a dim of the same name is the same batch.
void expect_batch_divides(InferContext& c, const Dim& query_batch, const Dim& batch, const std::string& what) {
  if (batch == query_batch || !batch.is_known() || !query_batch.is_known()) return;
  if (batch.value == 0 ? query_batch.value != 0 : query_batch.value % batch.value != 0)
    c.fail(fmt::format("{} has a batch of {}, which does not divide the query batch {}", what, batch.value,
                       query_batch.value));
}

void infer_mha(InferContext& c) {
  using namespace multi_head_attention;
  expect_f32_rank(c, kQuery, 3);
  const SymShape& q = c.in(kQuery).shape;
  int64_t heads = c.node().attr_int("num_heads");
  if (heads < 1) c.fail(fmt::format("num_heads must be >= 1, got {}", heads));
  Dim e = q[2];
  if (e.is_known() && e.value % heads) c.fail(fmt::format("embed size {} is not divisible by {} heads", e.value, heads));
  Dim hd = e.is_known() ? Dim::known(e.value / heads) : Dim{};
  bool projected = c.node().attr_int("kv_projected");
  bool cached = c.has_input(kCacheK) || c.has_input(kCacheV);
  if (cached && !(c.has_input(kCacheK) && c.has_input(kCacheV) && c.has_input(kPosition)))
    c.fail("a KV cache needs cache_k (13), cache_v (14) and position (15)");
  Dim s = q[1], kv_batch = q[0];
  if (c.has_input(kKey) != c.has_input(kValue)) c.fail("give both key and value, or neither (self-attention)");
  if (c.has_input(kKey)) {
    if (projected) {
      expect_f32_rank(c, kKey, 4);
      kv_batch = c.in(kKey).shape[0];
      expect_batch_divides(c, q[0], kv_batch, "key");
      expect_shape(c, kKey, {kv_batch, Dim::known(heads), c.in(kKey).shape[2], hd});
      expect_shape(c, kValue, {kv_batch, Dim::known(heads), c.in(kKey).shape[2], hd});
      s = c.in(kKey).shape[2];
    } else {
      expect_f32_rank(c, kKey, 3);
      expect_f32_rank(c, kValue, 3);
      expect_shape(c, kKey, {q[0], c.in(kKey).shape[1], e});
      expect_shape(c, kValue, {q[0], c.in(kKey).shape[1], e});
      s = c.in(kKey).shape[1];
    }
  } else if (projected) {
    c.fail("kv_projected needs key and value inputs");
  }
  if (cached) {
    if (c.has_input(kKey)) c.fail("a KV cache is for self-attention: leave key and value out");
    expect_f32_rank(c, kCacheK, 4);
    expect_shape(c, kCacheK, {q[0], Dim::known(heads), c.in(kCacheK).shape[2], hd});
    expect_shape(c, kCacheV, {q[0], Dim::known(heads), c.in(kCacheK).shape[2], hd});
    c.expect_dtype(kPosition, {DType::i64, DType::i32});
    if (c.in(kPosition).shape.size() > 1 || (c.in(kPosition).shape.size() == 1 && !(c.in(kPosition).shape[0] == Dim::known(1))))
      c.fail("position must be a scalar or [1]");
    s = c.in(kCacheK).shape[2];
  }
  if (!projected) {
    bool packed = !c.has_input(kKWeight);
    c.expect_dtype(kQWeight, {DType::f32});
    if (packed) {
      expect_shape(c, kQWeight, {e.is_known() ? Dim::known(3 * e.value) : Dim{}, e});
      if (c.has_input(kQBias)) expect_shape(c, kQBias, {e.is_known() ? Dim::known(3 * e.value) : Dim{}});
    } else {
      for (size_t i : {kQWeight, kKWeight, kVWeight}) expect_shape(c, i, {e, e});
      for (size_t i : {kQBias, kKBias, kVBias})
        if (c.has_input(i)) expect_shape(c, i, {e});
    }
  } else {
    expect_shape(c, kQWeight, {e, e});
    if (c.has_input(kQBias)) expect_shape(c, kQBias, {e});
  }
  expect_shape(c, kOutWeight, {e, e});
  if (c.has_input(kOutBias)) expect_shape(c, kOutBias, {e});
  if (c.has_input(kKeyPaddingMask)) {
    expect_mask(c, kKeyPaddingMask);
    const Dim& mask_batch = c.in(kKeyPaddingMask).shape.empty() ? q[0] : c.in(kKeyPaddingMask).shape[0];
    const bool shared = projected && !(kv_batch == q[0]) && (mask_batch == kv_batch || !(mask_batch == q[0]));
    if (shared) expect_batch_divides(c, q[0], mask_batch, "key_padding_mask");
    expect_shape(c, kKeyPaddingMask, {shared ? mask_batch : q[0], s});
  }
  if (c.has_input(kAttnMask)) {
    expect_mask(c, kAttnMask);
    expect_shape(c, kAttnMask, {q[1], s});
  }
  if (c.has_input(kMask)) {
    if (cached) c.fail("the mask of any shape (16) cannot go with a KV cache: use key_padding_mask (11) or attn_mask (12)");
    expect_broadcast_mask(c, kMask, {q[0], Dim::known(heads), q[1], s}, true);
  }
  c.out(0) = {DType::f32, q};
  if (c.outputs().size() > 1) c.out(1) = {DType::f32, {q[0], Dim::known(heads), q[1], s}};
}

}  // namespace

void expect_broadcast_mask(InferContext& c, size_t i, const SymShape& target, bool allow_bool) {
  if (allow_bool) c.expect_dtype(i, {DType::f32, DType::boolean, DType::u8});
  else c.expect_dtype(i, {DType::f32});
  const SymShape& m = c.in(i).shape;
  const std::string what = fmt::format("mask {}", c.in(i).str());
  if (m.size() > 4 || m.empty()) c.fail(what + " must broadcast to [batch, heads, queries, keys]");
  for (size_t d = 0; d < m.size(); ++d) {  // aligned to the right: each dim 1 or the target's
    const Dim& md = m[d];
    if (!(md.is_known() && md.value == 1)) c.unify(md, target[4 - m.size() + d], what + " must broadcast to " + shape_str(target));
  }
  const Dim& s = target[3];
  if (m.back().is_known() && m.back().value == 1 && !(s.is_known() && s.value == 1))
    c.fail(what + " must have a column per key");
}

void register_attention() {
  register_op(OpDef{.name = "GlobalAttention",
                    .min_inputs = 3, .max_inputs = 7,
                    .min_outputs = 1, .max_outputs = 2,
                    .attrs = {{"score", AttrType::String, std::string("dot"),
                               {"dot", "scaled_dot", "general", "additive", "concat"}}},
                    .infer = infer_global});
  register_op(OpDef{.name = "LocalAttention",
                    .min_inputs = 3, .max_inputs = 7,
                    .min_outputs = 1, .max_outputs = 2,
                    .attrs = {{"center", AttrType::String, std::string("monotonic"), {"monotonic", "predictive"}},
                              {"left", AttrType::Int, std::nullopt},
                              {"right", AttrType::Int, std::nullopt},
                              {"sigma", AttrType::Float, -1.0},
                              {"score", AttrType::String, std::string("dot"), {"dot", "scaled_dot", "general"}},
                              {"weights", AttrType::String, std::string("window"), {"window", "source"}},
                              {"window_rule", AttrType::String, std::string("floor"), {"floor", "distance"}}},
                    .infer = infer_local});
  register_op(OpDef{.name = "MultiHeadAttention",
                    .min_inputs = 10, .max_inputs = 17,
                    .min_outputs = 1, .max_outputs = 2,
                    .attrs = {{"num_heads", AttrType::Int, std::nullopt},
                              {"causal", AttrType::Bool, int64_t(0)},
                              {"kv_projected", AttrType::Bool, int64_t(0)},
                              {"scale", AttrType::Float, -1.0}},
                    .infer = infer_mha,
                    .mutated_inputs = {int(multi_head_attention::kCacheK), int(multi_head_attention::kCacheV)},
                    .weight_axis = [](const Node&, size_t input, const std::vector<const Tensor*>&) {
                      using namespace multi_head_attention;
                      return input == kQWeight || input == kKWeight || input == kVWeight || input == kOutWeight ? 0 : -1;
                    }});
}

}  // namespace heed::ops
