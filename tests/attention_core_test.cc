// The attention core's ways of computing the same thing agree: the slab and the
// online-softmax blocked modes and the per-row loops against the materialized
// mode (which the op tests check against PyTorch), with padding, causal masks,
// a cache offset and fully hidden rows.
#include <random>

#include "backends/cpu/attention_core.h"
#include "backends/cpu/flash_attention.h"
#include "engine/half.h"
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

// The bf16 kernel on AMX (head size 64) against the materialized fp32 mode given
// the same bf16-rounded inputs (the query scaled before rounding, as the kernel
// does): what is left is the probabilities' rounding to bf16, at most 2^-9 of
// the largest value. Partial query and key tiles, every mask kind, a query that
// sees nothing, a cache offset, and scores that rise along the keys (a bias of
// 0.1 a key), so that the kernel's running maxima rise past its headroom and
// its resident contexts are rescaled several times.
struct Problem64 {
  static constexpr int64_t B = 2, H = 3, T = 70, L = 300, D = 64;
  AttentionDims d{B, H, T, L, D, D};
  std::vector<float> q, k, v, pad, mask, ramp;
  View4 qv{{B, H, T, D}, {H * T * D, T * D, D, 1}}, kv{{B, H, L, D}, {H * L * D, L * D, D, 1}};
  View4 ov = qv;
  Problem64() {
    std::mt19937 gen(64);
    std::normal_distribution<float> n(0.f, 1.f);
    q.resize(size_t(B * H * T * D));
    k.resize(size_t(B * H * L * D));
    v.resize(k.size());
    for (auto* buf : {&q, &k, &v})
      for (float& x : *buf) x = n(gen);
    pad.assign(size_t(B * L), 0.f);
    for (int64_t j = 0; j < 40; ++j) pad[size_t(L + j)] = -INFINITY;  // the second item's first key tile hidden
    mask.resize(size_t(T * L));
    for (float& x : mask) x = n(gen);
    std::fill(mask.begin() + 5 * L, mask.begin() + 6 * L, -INFINITY);  // query 5 sees nothing
    ramp.resize(size_t(T * L));
    for (int64_t i = 0; i < T * L; ++i) ramp[size_t(i)] = 0.1f * float(i % L);
  }
  Tensor run(Precision precision, const AttentionMasks& m, bool* bf16) {
    AttentionCore core(d, qv, kv, kv, ov, 0.125f, AttentionCore::Mode::blocked, AttentionCore::kSlabBytes, precision);
    *bf16 = core.runs_bf16();
    return run(core, q, k, v, m);
  }
  Tensor rounded_reference(const AttentionMasks& m) {  // fp32 on the inputs the bf16 kernel sees
    auto round = [](std::vector<float> x, float scale) {
      for (float& e : x) e = bf16_to_f32(f32_to_bf16(e * scale));
      return x;
    };
    AttentionCore core(d, qv, kv, kv, ov, 1.f, AttentionCore::Mode::materialized);
    return run(core, round(q, 0.125f), round(k, 1.f), round(v, 1.f), m);
  }
  static Tensor run(AttentionCore& core, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const AttentionMasks& m) {
    Tensor out = Tensor::zeros(DType::f32, {B, H, T, D});
    Tensor workspace = Tensor::empty(DType::u8, {int64_t(core.workspace_bytes())});
    core.run(q.data(), k.data(), v.data(), out.data_as<float>(), m, nullptr, L, workspace.data());
    return out;
  }
};

TEST(AttentionCore, Bf16OnAmxIsFp32OnRoundedInputsWithinTheProbabilitiesRounding) {
  if (!flash_amx_usable()) GTEST_SKIP() << "no AMX-BF16 here (or HEED_CPU_ISA=avx2): the bf16 core runs in fp32";
  Problem64 p;
  AttentionMasks plain, padded, causal, masked;
  padded.key_padding = p.pad.data();
  causal.key_padding = p.pad.data();
  causal.causal = true;
  causal.query_offset = 200;
  masked.attn_mask = p.mask.data();
  masked.bias = p.mask.data();  // broadcast over batch and heads
  masked.bias_strides[2] = Problem64::L;
  AttentionMasks rising;
  rising.bias = p.ramp.data();
  rising.bias_strides[2] = Problem64::L;
  float largest = 0.f;
  for (float x : p.v) largest = std::max(largest, std::abs(bf16_to_f32(f32_to_bf16(x))));
  for (const AttentionMasks* m : {&plain, &padded, &causal, &masked, &rising}) {
    bool bf16 = false;
    Tensor out = p.run(Precision::bf16, *m, &bf16);
    EXPECT_TRUE(bf16);
    EXPECT_TRUE(test::all_close(out, p.rounded_reference(*m), 0, std::ldexp(largest, -9)));
  }
  bool bf16 = true;
  p.run(Precision::f32, plain, &bf16);
  EXPECT_FALSE(bf16);  // f32 asks for the fp32 kernel
}

// A NaN key makes every context of its head NaN and leaves the other heads
// alone, in both flash kernels (fp32, and bf16 where AMX runs it).
TEST(AttentionCore, NanKeyGivesNanContextsInItsHeadOnly) {
  Problem64 p;
  p.k[size_t((0 * Problem64::H + 1) * Problem64::L + 100) * Problem64::D + 7] = NAN;  // item 0, head 1, key 100
  AttentionMasks plain;
  for (Precision precision : {Precision::f32, Precision::bf16}) {
    bool bf16 = false;
    Tensor out = p.run(precision, plain, &bf16);
    const int64_t per_head = Problem64::T * Problem64::D;
    for (int64_t i = 0; i < out.numel(); ++i)
      ASSERT_EQ(std::isnan(out.data_as<float>()[i]), i / per_head == 1) << "element " << i << (bf16 ? " (bf16)" : "");
  }
}

// The same kernel over bf16 Q, K, V and context (run_bf16_io, as a bf16
// MultiHeadAttention passes them between its GEMMs): bit for bit the run over
// fp32 inputs holding the same values, its context rounded to nearest even.
TEST(AttentionCore, Bf16InputsAndOutputsAreTheFp32InputRunRounded) {
  if (!flash_amx_usable()) GTEST_SKIP() << "no AMX-BF16 here (or HEED_CPU_ISA=avx2): no bf16 kernel";
  Problem64 p;
  auto halves = [](std::vector<float>& x) {  // x rounded to bf16 in place; its halves returned
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = f32_to_bf16(x[i]), x[i] = bf16_to_f32(h[i]);
    return h;
  };
  const std::vector<uint16_t> qh = halves(p.q), kh = halves(p.k), vh = halves(p.v);
  AttentionMasks plain, causal, masked;
  causal.key_padding = p.pad.data();
  causal.causal = true;
  causal.query_offset = 200;
  masked.bias = p.mask.data();
  masked.bias_strides[2] = Problem64::L;
  for (const AttentionMasks* m : {&plain, &causal, &masked}) {
    AttentionCore core(p.d, p.qv, p.kv, p.kv, p.ov, 0.125f, AttentionCore::Mode::blocked, AttentionCore::kSlabBytes,
                       Precision::bf16);
    ASSERT_TRUE(core.runs_bf16());
    const Tensor fp32 = Problem64::run(core, p.q, p.k, p.v, *m);
    std::vector<uint16_t> out(size_t(fp32.numel()), 0xFFFF);
    Tensor workspace = Tensor::empty(DType::u8, {int64_t(core.workspace_bytes())});
    core.run_bf16_io(qh.data(), kh.data(), vh.data(), out.data(), *m, workspace.data());
    for (int64_t i = 0; i < fp32.numel(); ++i)
      ASSERT_EQ(out[size_t(i)], f32_to_bf16(fp32.data_as<float>()[i])) << "element " << i;
  }
}

}  // namespace
}  // namespace heed::cpu
