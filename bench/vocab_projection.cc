// The vocabulary projection of an opus-mt-sized decoder (x[m, 512] . W^T,
// W [58101, 512] in PyTorch's layout, + bias): heed's Linear node (its panel
// kernel for m <= 8, oneDNN above) against the raw oneDNN matmul on the same
// weight layout, medians of alternated runs. Prints a markdown table.
//
//   heed_bench_vocab [--threads N] [--repeats R] [--iters I]
#include <heed/model.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  using nlohmann::json;
  using dnnl::memory;
  heed::bench::Options o = heed::bench::parse_options(argc, argv);
  const int64_t n = 58101, k = 512;
  heed::Tensor w = heed::bench::random_tensor({n, k}, 1), b = heed::bench::random_tensor({n}, 2);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::printf("vocabulary projection [m, %ld] x [%ld, %ld]^T, %d threads, median of %d x %d calls\n\n", long(k), long(n),
              long(k), o.threads, o.repeats, o.iters);
  std::printf("| m | heed Linear (us) | oneDNN matmul (us) | heed / oneDNN speed | heed GFLOP/s |\n|---:|---:|---:|---:|---:|\n");
  for (int64_t m : {1, 2, 4, 8, 16, 32, 128}) {
    json g = {{"inputs", json::array({{{"name", "x"}, {"dtype", "f32"}, {"shape", {m, k}}}})},
              {"outputs", {"y"}},
              {"nodes", {{{"name", "logits"}, {"op", "Linear"}, {"inputs", {"x", "w", "b"}}, {"outputs", {"y"}}}}}};
    heed::Model model = heed::bench::load_graph("vocab", g, {{"w", w}, {"b", b}});
    heed::Session s(model, {"", o.threads});
    heed::Tensor x = heed::bench::random_tensor({m, k}, 3, 1.f);
    heed::TensorMap in = {{"x", x}}, out;
    memory::desc xd({m, k}, memory::data_type::f32, memory::format_tag::ab),
        wd({k, n}, memory::data_type::f32, memory::format_tag::ba),
        bd({1, n}, memory::data_type::f32, memory::format_tag::ab), yd({m, n}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, wd, bd, yd), eng));
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(xd, eng, x.data())},
                                            {DNNL_ARG_WEIGHTS, memory(wd, eng, w.data())},
                                            {DNNL_ARG_BIAS, memory(bd, eng, b.data())},
                                            {DNNL_ARG_DST, memory(yd, eng)}};
    auto t = heed::bench::median_us(o, 3, {[&] { s.run(in, out); }, [&] { prim.execute(strm, args); strm.wait(); }});
    std::printf("| %ld | %.0f | %.0f | %.2fx | %.0f |\n", long(m), t[0], t[1], t[1] / t[0], 2.0 * double(m * n * k) / t[0] / 1e3);
  }
}
