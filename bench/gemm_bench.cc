// The GEMMs of an opus-mt-sized decoder step (y = x[m, k] . W^T + b, PyTorch's
// weight layout) through heed's Linear node, against oneDNN matmul on its own
// packed copy of the weight (format "any", reordered once: what heed ran before
// its panel kernel took over on AVX-512) and on the weight as it is (PyTorch's
// [out, in], oneDNN's choice on AVX2). A decode step streams ~207 MB of weights,
// far more than the L3, so every variant cycles through copies of its weight
// (at least 256 MB in all) and never finds it in cache. Medians of alternated
// runs; prints a markdown table.
//
//   heed_bench_gemm [--threads N] [--repeats R] [--iters I]
#include <heed/model.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

namespace {

using dnnl::memory;
using nlohmann::json;

struct Shape {
  const char* name;
  int64_t n, k;
};

// One weight copy: heed's model over it, and oneDNN's packed copy of it.
struct Copy {
  heed::Tensor w;
  heed::Model model;
  memory packed;
};

void run_shape(const heed::bench::Options& o, const Shape& shape, dnnl::engine& eng, dnnl::stream& strm) {
  const int64_t n = shape.n, k = shape.k;
  const int copies = int(std::max<int64_t>(2, (int64_t(256) << 20) / (n * k * 4) + 1));
  heed::Tensor b = heed::bench::random_tensor({n}, 2);
  memory::desc wd({k, n}, memory::data_type::f32, memory::format_tag::ba),
      bd({1, n}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc any({k, n}, memory::data_type::f32, memory::format_tag::any);
  std::vector<Copy> c;
  for (int i = 0; i < copies; ++i) {
    heed::Tensor w = heed::bench::random_tensor({n, k}, unsigned(10 + i));
    json g = {{"inputs", json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {"m", k}}}})},
              {"outputs", {"y"}},
              {"nodes", {{{"name", "gemm"}, {"op", "Linear"}, {"inputs", {"x", "w", "b"}}, {"outputs", {"y"}}}}}};
    heed::Model model = heed::bench::load_graph("gemm", g, {{"w", w}, {"b", b}});
    memory::desc xd({32, k}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc yd({32, n}, memory::data_type::f32, memory::format_tag::ab);
    auto pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, any, bd, yd), eng);
    memory packed(pd.weights_desc(), eng), plain(wd, eng, w.data());
    dnnl::reorder(plain, packed).execute(strm, plain, packed);
    strm.wait();
    c.push_back({w, std::move(model), packed});
  }
  for (int64_t m : {1, 4, 32, 128}) {
    std::vector<heed::Session> sessions;
    for (auto& copy : c) sessions.emplace_back(copy.model, heed::SessionOptions{"", o.threads});
    heed::Tensor x = heed::bench::random_tensor({m, k}, 3, 1.f);
    heed::TensorMap in = {{"x", x}}, out;
    memory::desc xd({m, k}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc yd({m, n}, memory::data_type::f32, memory::format_tag::ab);
    memory xm(xd, eng, x.data()), ym(yd, eng), bm(bd, eng, b.data());
    dnnl::matmul packed_prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, c[0].packed.get_desc(), bd, yd), eng));
    dnnl::matmul plain_prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, wd, bd, yd), eng));
    int at[3] = {0, 0, 0};
    auto next = [&](int v) { return at[v] = (at[v] + 1) % copies; };
    auto onednn = [&](dnnl::matmul& p, const memory& w) {
      p.execute(strm, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}});
      strm.wait();
    };
    auto t = heed::bench::median_us(
        o, copies, {[&] { sessions[size_t(next(0))].run(in, out); },
                    [&] { onednn(packed_prim, c[size_t(next(1))].packed); },
                    [&] { onednn(plain_prim, memory(wd, eng, c[size_t(next(2))].w.data())); }});
    std::printf("| %s %ld x %ld | %ld | %.0f | %.0f | %.0f | %.2fx | %.0f |\n", shape.name, long(n), long(k), long(m),
                t[0], t[1], t[2], t[1] / t[0], 2.0 * double(m * n * k) / t[0] / 1e3);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  heed::bench::Options o = heed::bench::parse_options(argc, argv);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::printf("decoder GEMMs, weights streamed from memory, %d threads, median of %d x %d calls\n\n", o.threads,
              o.repeats, o.iters);
  std::printf("| weight | m | heed Linear (us) | oneDNN, packed weight (us) | oneDNN, plain weight (us) | "
              "heed / oneDNN packed | heed GFLOP/s |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Shape& s : {Shape{"vocabulary", 58101, 512}, Shape{"fc1", 2048, 512}, Shape{"fc2", 512, 2048},
                         Shape{"qkv", 1536, 512}, Shape{"out", 512, 512}})
    run_shape(o, s, eng, strm);
}
