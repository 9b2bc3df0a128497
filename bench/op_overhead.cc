// Per-op dispatch overhead: heed running a one-node graph against the same raw
// oneDNN primitive executed directly (prepacked weights, prebuilt arguments).
// Prints one JSON object per line; bench/op_overhead.py adds PyTorch and makes the table.
//
//   heed_bench_ops [--threads N] [--repeats R] [--iters I]
#include <heed/model.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

namespace {

using json = nlohmann::json;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using heed::bench::Options;
using heed::bench::random_tensor;

std::pair<double, double> median_us(const Options& o, const std::function<void()>& a, const std::function<void()>& b) {
  auto t = heed::bench::median_us(o, 20, {a, b});
  return {t[0], t[1]};
}

// A one-node heed model over the graph inputs `inputs` and the weights.
heed::Session one_node_session(const std::string& op, const json& inputs, const std::vector<std::string>& node_inputs,
                               const heed::NamedTensors& weights, int threads, heed::Model* keep) {
  json g = {{"inputs", inputs}, {"outputs", {"y"}},
            {"nodes", {{{"name", "op"}, {"op", op}, {"inputs", node_inputs}, {"outputs", {"y"}}}}}};
  *keep = heed::bench::load_graph(op, g, weights);
  return heed::Session(*keep, {"", threads});
}

void emit(const std::string& op, int64_t m, double heed_us, double raw_us, int threads) {
  heed::bench::emit({{"op", op}, {"m", m}, {"threads", threads}, {"heed_us", heed_us}, {"onednn_us", raw_us},
                     {"overhead_us", heed_us - raw_us}});
}

}  // namespace

int main(int argc, char** argv) {
  Options o = heed::bench::parse_options(argc, argv);
  const int64_t K = 512, N = 2048;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  heed::Tensor w = random_tensor({N, K}, 1);

  // Pure dispatch cost: a chain of 100 tiny Relu nodes vs 100 raw eltwise executes.
  {
    const int kNodes = 100;
    json nodes = json::array();
    for (int i = 0; i < kNodes; ++i)
      nodes.push_back({{"name", fmt::format("relu{}", i)}, {"op", "Relu"},
                       {"inputs", {i ? fmt::format("v{}", i - 1) : "x"}},
                       {"outputs", {i == kNodes - 1 ? std::string("y") : fmt::format("v{}", i)}}});
    json doc = {{"format", "heed.graph"}, {"version", 1},
                {"graphs", {{"main", {{"inputs", json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {1, 64}}}})},
                                      {"outputs", {"y"}}, {"nodes", nodes}}}}}};
    heed::Model model = heed::bench::load_graph("chain", doc["graphs"]["main"], {});
    heed::Session s(model, {"", o.threads});
    heed::TensorMap in = {{"x", random_tensor({1, 64}, 9)}}, out;
    memory::desc md({1, 64}, dt::f32, tag::ab);
    dnnl::eltwise_forward prim(dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, md), eng));
    std::vector<memory> bufs;
    for (int i = 0; i <= kNodes; ++i) bufs.emplace_back(md, eng);
    auto [h, r] = median_us(o, [&] { s.run(in, out); }, [&] {
      for (int i = 0; i < kNodes; ++i) prim.execute(strm, {{DNNL_ARG_SRC, bufs[i]}, {DNNL_ARG_DST, bufs[i + 1]}});
    });
    heed::bench::emit({{"op", "Relu chain"}, {"m", 1}, {"threads", o.threads}, {"nodes", kNodes},
                       {"heed_us", h / kNodes}, {"onednn_us", r / kNodes}, {"overhead_us", (h - r) / kNodes}});
  }

  for (int64_t m : {1, 8, 128}) {
    heed::Model model;
    heed::TensorMap out;
    // Linear: x[m, K] W[N, K] -> y[m, N]
    {
      heed::Tensor x = random_tensor({m, K}, 2);
      auto s = one_node_session("Linear", json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {m, K}}}}),
                                {"x", "w"}, {{"w", w}}, o.threads, &model);
      heed::TensorMap in = {{"x", x}};
      // The same choice heed makes: oneDNN's packed layout if it wants one, else PyTorch's [N, K].
      memory::desc src({m, K}, dt::f32, tag::ab), wany({K, N}, dt::f32, tag::any), dst({m, N}, dt::f32, tag::ab);
      memory::desc wplain_md({K, N}, dt::f32, tag::ba);
      dnnl::matmul::primitive_desc probe(dnnl::matmul::desc(src, wany, dst), eng);
      bool pack = probe.weights_desc().data.format_desc.blocking.inner_nblks > 0;
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, pack ? probe.weights_desc() : wplain_md, dst), eng);
      memory wplain(wplain_md, eng, w.data()), wused = wplain;
      if (pack) {
        wused = memory(pd.weights_desc(), eng);
        dnnl::reorder(wplain, wused).execute(strm, wplain, wused);
      }
      memory xs(src, eng, x.data()), ys(dst, eng);
      dnnl::matmul prim(pd);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, xs}, {DNNL_ARG_WEIGHTS, wused}, {DNNL_ARG_DST, ys}};
      auto [h, r] = median_us(o, [&] { s.run(in, out); }, [&] { prim.execute(strm, args); });
      emit("Linear", m, h, r, o.threads);
    }
    // MatMul: a[m, K] b[K, N] (both activations)
    {
      heed::Tensor a = random_tensor({m, K}, 3), b = random_tensor({K, N}, 4);
      auto s = one_node_session("MatMul",
                                json::array({{{"name", "a"}, {"dtype", "f32"}, {"shape", {m, K}}},
                                             {{"name", "b"}, {"dtype", "f32"}, {"shape", {K, N}}}}),
                                {"a", "b"}, {}, o.threads, &model);
      heed::TensorMap in = {{"a", a}, {"b", b}};
      memory::desc ad({m, K}, dt::f32, tag::ab), bd({K, N}, dt::f32, tag::ab), cd({m, N}, dt::f32, tag::ab);
      dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), eng));
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(ad, eng, a.data())},
                                              {DNNL_ARG_WEIGHTS, memory(bd, eng, b.data())},
                                              {DNNL_ARG_DST, memory(cd, eng)}};
      auto [h, r] = median_us(o, [&] { s.run(in, out); }, [&] { prim.execute(strm, args); });
      emit("MatMul", m, h, r, o.threads);
    }
    // Softmax and LayerNorm over x[m, N]
    heed::Tensor x = random_tensor({m, N}, 5);
    json xin = json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {m, N}}}});
    memory::desc xd({m, N}, dt::f32, tag::ab);
    heed::TensorMap in = {{"x", x}};
    {
      auto s = one_node_session("Softmax", xin, {"x"}, {}, o.threads, &model);
      dnnl::softmax_forward prim(dnnl::softmax_forward::primitive_desc(
          dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, xd, 1), eng));
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(xd, eng, x.data())}, {DNNL_ARG_DST, memory(xd, eng)}};
      auto [h, r] = median_us(o, [&] { s.run(in, out); }, [&] { prim.execute(strm, args); });
      emit("Softmax", m, h, r, o.threads);
    }
    {
      heed::Tensor g = random_tensor({N}, 6), b = random_tensor({N}, 7);
      auto s = one_node_session("LayerNorm", xin, {"x", "g", "b"}, {{"g", g}, {"b", b}}, o.threads, &model);
      auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      dnnl::layer_normalization_forward prim(dnnl::layer_normalization_forward::primitive_desc(
          dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, xd, 1e-5f, flags), eng));
      memory::desc pd({N}, dt::f32, tag::a);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(xd, eng, x.data())}, {DNNL_ARG_DST, memory(xd, eng)},
                                              {DNNL_ARG_SCALE, memory(pd, eng, g.data())},
                                              {DNNL_ARG_SHIFT, memory(pd, eng, b.data())}};
      auto [h, r] = median_us(o, [&] { s.run(in, out); }, [&] { prim.execute(strm, args); });
      emit("LayerNorm", m, h, r, o.threads);
    }
  }
  return 0;
}
