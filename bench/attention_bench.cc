// Attention benchmarks (issue 3). Prints JSON lines; bench/attention.py adds the
// PyTorch peers and prints the tables of docs/benchmarks.md.
//   mha      self-attention, d_model 512, 8 heads: heed's MultiHeadAttention node vs
//            the GEMM-bound limit (the same GEMMs on oneDNN matmul alone)
//   mha_bf16 the same in bf16 (--precision bf16: projections, and the core on AMX
//            where the CPU has it)
//   decode   one cached decode step at cache lengths 16..1024
//   local    LocalAttention, left = right = 32 (65 keys a query), lengths 1k..16k
//   core     the attention core alone: ScaledDotProductAttention, 8 heads of 64,
//            batch 1, no mask, lengths 128..2048 (GFLOP/s: 4 L^2 64 per head)
//   core_bf16 the same core in bf16 (AMX tiles), called directly: no op runs it
//            alone in bf16 (MultiHeadAttention does, around its projections)
#include <oneapi/dnnl/dnnl.hpp>

#include <fmt/format.h>

#include "backends/cpu/attention_core.h"
#include "bench/bench_util.h"

namespace {

using json = nlohmann::json;
using namespace heed;
using dnnl::memory;

constexpr int64_t E = 512, H = 8, Dh = 64;

NamedTensors mha_weights() {
  return {{"w_in", bench::random_tensor({3 * E, E}, 1)}, {"b_in", bench::random_tensor({3 * E}, 2)},
          {"w_out", bench::random_tensor({E, E}, 3)}, {"b_out", bench::random_tensor({E}, 4)}};
}

json mha_node(bool cached) {
  json in = {"x", "", "", "w_in", "", "", "b_in", "", "", "w_out", "b_out"};
  if (cached) in.insert(in.end(), {"", "", "cache_k", "cache_v", "pos"});
  return {{"name", "mha"}, {"op", "MultiHeadAttention"}, {"inputs", in}, {"outputs", {"y"}},
          {"attrs", {{"num_heads", H}, {"causal", cached}}}};
}

// Times `f` with repeats/iters scaled to the work so that each point takes about
// the same wall time.
double time_point(const bench::Options& o, int iters, const std::function<void()>& f) {
  bench::Options p = o;
  p.iters = iters;
  return bench::median_us(p, 1, {f})[0];
}

// The GEMMs of one self-attention layer on oneDNN alone: 4 projections, Q K^T, P V.
double gemm_limit_us(const bench::Options& o, int64_t B, int64_t L, int iters) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  using dt = memory::data_type;
  using tag = memory::format_tag;
  std::vector<std::function<void()>> calls;
  std::vector<dnnl::matmul> prims;
  std::vector<std::unordered_map<int, memory>> args;
  auto add = [&](memory::dims a, memory::dims b, memory::dims c, tag ta, tag tb, tag tc) {
    memory::desc ad(a, dt::f32, ta), bd(b, dt::f32, tb), cd(c, dt::f32, tc);
    prims.emplace_back(dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), eng));
    args.push_back({{DNNL_ARG_SRC, memory(ad, eng)}, {DNNL_ARG_WEIGHTS, memory(bd, eng)}, {DNNL_ARG_DST, memory(cd, eng)}});
  };
  for (int i = 0; i < 4; ++i) add({B * L, E}, {E, E}, {B * L, E}, tag::ab, tag::ba, tag::ab);
  add({B * H, L, Dh}, {B * H, Dh, L}, {B * H, L, L}, tag::abc, tag::acb, tag::abc);
  add({B * H, L, L}, {B * H, L, Dh}, {B * H, L, Dh}, tag::abc, tag::abc, tag::abc);
  return time_point(o, iters, [&] {
    for (size_t i = 0; i < prims.size(); ++i) prims[i].execute(s, args[i]);
  });
}

// `precision` bf16: the projections in bf16 (LoadOptions::precision), the core in fp32.
void bench_mha(const bench::Options& o, Precision precision) {
  json g = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {"b", "n", E}}}}}, {"outputs", {"y"}},
            {"nodes", {mha_node(false)}}};
  LoadOptions lo;
  lo.precision = precision;
  Model model = bench::load_graph("mha", g, mha_weights(), lo);
  Session session(model, {"", o.threads});
  for (int64_t B : {1, 8})
    for (int64_t L : {32, 128, 512, 2048}) {
      double flops = double(B * L) * 8 * E * E + 4.0 * double(B * H) * double(L * L) * Dh;
      int iters = int(std::clamp(3e5 / (flops / 50e3), 1.0, 50.0));  // about 0.3 s a repeat at 50 GFLOP/s
      TensorMap in = {{"x", bench::random_tensor({B, L, E}, 5, 1.f)}}, out;
      double heed = time_point(o, iters, [&] { session.run(in, out); });
      json row = {{"bench", precision == Precision::f32 ? "mha" : "mha_bf16"}, {"batch", B}, {"len", L},
                  {"threads", o.threads}, {"heed_us", heed}, {"iters", iters}};
      if (precision == Precision::f32) row["gemm_limit_us"] = gemm_limit_us(o, B, L, iters);
      bench::emit(row);
    }
}

void bench_decode(const bench::Options& o) {
  const int64_t cap = 1040;
  json cache = {1, H, cap, Dh};
  json g = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {1, 1, E}}},
                        {{"name", "cache_k"}, {"dtype", "f32"}, {"shape", cache}},
                        {{"name", "cache_v"}, {"dtype", "f32"}, {"shape", cache}},
                        {{"name", "pos"}, {"dtype", "i64"}, {"shape", json::array()}}}},
            {"outputs", {"y"}}, {"nodes", {mha_node(true)}}};
  Model model = bench::load_graph("decode", g, mha_weights());
  Session session(model, {"", o.threads});
  TensorMap in = {{"x", bench::random_tensor({1, 1, E}, 6, 1.f)},
                  {"cache_k", bench::random_tensor({1, H, cap, Dh}, 7, 1.f)},
                  {"cache_v", bench::random_tensor({1, H, cap, Dh}, 8, 1.f)},
                  {"pos", Tensor::zeros(DType::i64, {})}},
            out;
  for (int64_t len : {16, 64, 256, 1024}) {
    in["pos"].data_as<int64_t>()[0] = len - 1;  // attend over `len` keys, the last one new
    double heed = time_point(o, 200, [&] { session.run(in, out); });
    bench::emit({{"bench", "decode"}, {"cache_len", len}, {"threads", o.threads}, {"heed_us", heed}});
  }
}

void bench_local(const bench::Options& o) {
  const int64_t D = 64;
  json g = {{"inputs", {{{"name", "q"}, {"dtype", "f32"}, {"shape", {1, "n", D}}},
                        {{"name", "k"}, {"dtype", "f32"}, {"shape", {1, "n", D}}},
                        {{"name", "v"}, {"dtype", "f32"}, {"shape", {1, "n", D}}}}},
            {"outputs", {"y"}},
            {"nodes", {{{"name", "local"}, {"op", "LocalAttention"}, {"inputs", {"q", "k", "v"}}, {"outputs", {"y"}},
                        {"attrs", {{"left", 32}, {"right", 32}, {"score", "scaled_dot"}}}}}}};
  Model model = bench::load_graph("local", g, {});
  Session session(model, {"", o.threads});
  for (int64_t n : {1024, 2048, 4096, 8192, 16384}) {
    TensorMap in = {{"q", bench::random_tensor({1, n, D}, 9, 1.f)}, {"k", bench::random_tensor({1, n, D}, 10, 1.f)},
                    {"v", bench::random_tensor({1, n, D}, 11, 1.f)}},
              out;
    double heed = time_point(o, int(std::max<int64_t>(1, 16384 / n * 4)), [&] { session.run(in, out); });
    bench::emit({{"bench", "local"}, {"len", n}, {"window", 65}, {"threads", o.threads}, {"heed_us", heed},
                 {"us_per_1k_queries", heed / double(n) * 1000}});
  }
}

void bench_core(const bench::Options& o) {
  json shape = {1, H, "n", Dh};
  json g = {{"inputs", {{{"name", "q"}, {"dtype", "f32"}, {"shape", shape}}, {{"name", "k"}, {"dtype", "f32"}, {"shape", shape}},
                        {{"name", "v"}, {"dtype", "f32"}, {"shape", shape}}}},
            {"outputs", {"y"}},
            {"nodes", {{{"name", "core"}, {"op", "ScaledDotProductAttention"}, {"inputs", {"q", "k", "v"}}, {"outputs", {"y"}}}}}};
  Model model = bench::load_graph("core", g, {});
  Session session(model, {"", o.threads});
  for (int64_t L : {128, 512, 1024, 2048}) {
    const double flops = 4.0 * double(H) * double(L) * double(L) * double(Dh);
    const int iters = int(std::clamp(3e5 / (flops / 50e3), 1.0, 50.0));
    TensorMap in = {{"q", bench::random_tensor({1, H, L, Dh}, 12, 1.f)}, {"k", bench::random_tensor({1, H, L, Dh}, 13, 1.f)},
                    {"v", bench::random_tensor({1, H, L, Dh}, 14, 1.f)}},
              out;
    const double heed = time_point(o, iters, [&] { session.run(in, out); });
    bench::emit({{"bench", "core"}, {"len", L}, {"threads", o.threads}, {"heed_us", heed}, {"gflops", flops / heed / 1e3},
                 {"iters", iters}});
  }
}

// The bf16 core through its C++ class (backends/cpu/attention_core.h), as
// MultiHeadAttention runs it in a bf16 model; skipped where it would run fp32.
void bench_core_bf16(const bench::Options& o) {
  for (int64_t L : {128, 512, 1024, 2048}) {
    const cpu::View4 view{{1, H, L, Dh}, {H * L * Dh, L * Dh, Dh, 1}};
    cpu::AttentionCore core({1, H, L, L, Dh, Dh}, view, view, view, view, 0.125f, cpu::AttentionCore::Mode::blocked,
                            cpu::AttentionCore::kSlabBytes, Precision::bf16);
    if (!core.runs_bf16()) {
      std::fprintf(stderr, "core_bf16: skipped (no AMX-BF16 here: the bf16 core would run in fp32)\n");
      return;
    }
    const double flops = 4.0 * double(H) * double(L) * double(L) * double(Dh);
    const int iters = int(std::clamp(3e5 / (flops / 200e3), 1.0, 200.0));
    Tensor q = bench::random_tensor({1, H, L, Dh}, 12, 1.f), k = bench::random_tensor({1, H, L, Dh}, 13, 1.f),
           v = bench::random_tensor({1, H, L, Dh}, 14, 1.f), out = Tensor::zeros(DType::f32, {1, H, L, Dh}),
           workspace = Tensor::empty(DType::u8, {int64_t(core.workspace_bytes()) + 64});
    void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(workspace.data()) + 63) / 64 * 64);
    const double heed = time_point(o, iters, [&] {
      core.run(q.data_as<float>(), k.data_as<float>(), v.data_as<float>(), out.data_as<float>(), {}, nullptr, L, ws);
    });
    bench::emit({{"bench", "core_bf16"}, {"len", L}, {"threads", o.threads}, {"heed_us", heed},
                 {"gflops", flops / heed / 1e3}, {"iters", iters}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv);
  if (o.runs("mha")) bench_mha(o, Precision::f32);
  try {  // loading refuses bf16 on a CPU without a bf16 GEMM, saying why
    if (o.runs("mha_bf16")) bench_mha(o, Precision::bf16);
  } catch (const Error& e) {
    std::fprintf(stderr, "mha_bf16: skipped (%s)\n", e.what());
  }
  if (o.runs("decode")) bench_decode(o);
  if (o.runs("local")) bench_local(o);
  if (o.runs("core")) bench_core(o);
  if (o.runs("core_bf16")) bench_core_bf16(o);
  return 0;
}
