// The attention core's ways of computing the same thing agree: the slab and the
// online-softmax blocked modes and the per-row loops against the materialized
// mode (which the op tests check against PyTorch), with padding, causal masks,
// a cache offset and fully hidden rows.
#include <random>

#include "backends/cpu/attention_core.h"
#include "tests/test_util.h"

namespace heed::cpu {
namespace {

struct Problem {
  AttentionDims d{2, 3, 70, 300, 16, 8};
  std::vector<float> q, k, v, pad;
  View4 qv{{2, 3, 70, 16}, {3 * 70 * 16, 70 * 16, 16, 1}};
  View4 kv{{2, 3, 300, 16}, {3 * 300 * 16, 300 * 16, 16, 1}};
  View4 vv{{2, 3, 300, 8}, {3 * 300 * 8, 300 * 8, 8, 1}};
  View4 ov{{2, 3, 70, 8}, {3 * 70 * 8, 70 * 8, 8, 1}};
  Problem() {
    std::mt19937 gen(5);
    std::normal_distribution<float> n(0.f, 1.f);
    for (auto* buf : {&q, &k}) buf->resize(size_t(2 * 3 * (buf == &q ? 70 : 300) * 16));
    v.resize(size_t(2 * 3 * 300 * 8));
    for (auto* buf : {&q, &k, &v})
      for (float& x : *buf) x = n(gen);
    pad.assign(600, 0.f);
    for (int j = 260; j < 300; ++j) pad[size_t(300 + j)] = -INFINITY;
  }
  Tensor run(AttentionCore::Mode mode, const AttentionMasks& m, size_t slab = AttentionCore::kSlabBytes,
             bool* online = nullptr) {
    AttentionCore core(d, qv, kv, vv, ov, 0.25f, mode, slab);
    if (online) *online = core.online();
    Tensor out = Tensor::zeros(DType::f32, {2, 3, 70, 8});
    Tensor workspace = Tensor::empty(DType::u8, {int64_t(core.workspace_bytes())});
    core.run(q.data(), k.data(), v.data(), out.data_as<float>(), m, nullptr, d.L, workspace.data());
    return out;
  }
};

TEST(AttentionCore, ModesAgree) {
  Problem p;
  AttentionMasks plain, padded, causal;
  padded.key_padding = p.pad.data();
  causal.key_padding = p.pad.data();
  causal.causal = true;
  causal.query_offset = 200;  // queries sit at positions 200..269 of the keys
  AttentionMasks hidden = padded;
  std::vector<float> all(600, 0.f);
  std::fill(all.begin() + 300, all.end(), -INFINITY);  // batch 1 sees no key at all
  hidden.key_padding = all.data();
  for (const AttentionMasks* m : {&plain, &padded, &causal, &hidden}) {
    Tensor reference = p.run(AttentionCore::Mode::materialized, *m);
    bool online = true;
    EXPECT_TRUE(test::all_close(p.run(AttentionCore::Mode::blocked, *m, AttentionCore::kSlabBytes, &online), reference, 1e-5, 1e-6));
    EXPECT_FALSE(online);
    EXPECT_TRUE(test::all_close(p.run(AttentionCore::Mode::blocked, *m, 4096, &online), reference, 1e-5, 1e-6));
    EXPECT_TRUE(online);
    EXPECT_TRUE(test::all_close(p.run(AttentionCore::Mode::loops, *m), reference, 1e-5, 1e-6));
  }
  Tensor zeros = p.run(AttentionCore::Mode::blocked, hidden, 4096);
  for (int64_t i = zeros.numel() / 2; i < zeros.numel(); ++i) ASSERT_EQ(zeros.data_as<float>()[i], 0.f);
}

}  // namespace
}  // namespace heed::cpu
