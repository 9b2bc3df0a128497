#pragma once
// Input positions of the attention ops, shared by their shape rules and kernels.
#include <cstddef>

#include "engine/op_def.h"

namespace heed::ops {

namespace global_attention {
// score: dot | scaled_dot | general (W_a [Dk, Dq]: score = (q W_a^T) . k)
//        | additive = concat (W [A, Dq + Dk] on [q; k], b [A], v [A]: score = v . tanh(W [q; k] + b))
constexpr size_t kQuery = 0, kKeys = 1, kValues = 2, kMask = 3, kScoreWeight = 4, kScoreBias = 5, kScoreVector = 6;
}  // namespace global_attention

namespace local_attention {
// center: monotonic (p_t = t) | predictive (p_t = S * sigmoid(v_p . tanh(W_p h_t)), S the
// sequence's length); window [floor(p_t) - left, floor(p_t) + right] clipped to [0, S).
constexpr size_t kQuery = 0, kKeys = 1, kValues = 2, kLengths = 3, kScoreWeight = 4, kPredictWeight = 5,
                 kPredictVector = 6;
}  // namespace local_attention

namespace multi_head_attention {
// PyTorch nn.MultiheadAttention layout. q_weight is in_proj_weight [3E, E] when
// k_weight is left out (packed), else q_proj.weight [E, E].
constexpr size_t kQuery = 0, kKey = 1, kValue = 2, kQWeight = 3, kKWeight = 4, kVWeight = 5, kQBias = 6,
                 kKBias = 7, kVBias = 8, kOutWeight = 9, kOutBias = 10, kKeyPaddingMask = 11, kAttnMask = 12,
                 kCacheK = 13, kCacheV = 14, kPosition = 15, kMask = 16;
}  // namespace multi_head_attention

// Checks input i as an attention mask of any shape that broadcasts to `target`
// ([B, H, T, S]) without growing it, with a column per key: f32 (additive), or
// bool/u8 when `allow_bool` (true hides a key).
void expect_broadcast_mask(ir::InferContext& c, size_t i, const ir::SymShape& target, bool allow_bool);

}  // namespace heed::ops
