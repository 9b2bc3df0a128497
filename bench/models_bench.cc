// Recurrent and convolutional benchmarks (issue 4). Prints JSON lines;
// bench/models.py adds PyTorch and prints the tables of docs/benchmarks.md.
//   lstm       LSTM, 2 layers, input = hidden = 512, seq 32, batch 8
//   lstm_cell  LSTMCell 512 -> 512, one step, batch 1
//   resnet50   torchvision ResNet-50 graph, 224x224, batch 1 and 8 (seeded weights)
#include <fmt/format.h>

#include "bench/bench_util.h"
#include "tests/seeded_weights.h"

namespace {

using json = nlohmann::json;
using namespace heed;

double time_point(const bench::Options& o, int iters, const std::function<void()>& f) {
  bench::Options p = o;
  p.iters = iters;
  return bench::median_us(p, 1, {f})[0];
}

void bench_lstm(const bench::Options& o) {
  const int64_t H = 512, T = 32, B = 8;
  NamedTensors w;
  json inputs = {"x", "", "", ""};
  for (int l = 0; l < 2; ++l)
    for (const char* k : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
      std::string name = fmt::format("{}_l{}", k, l);
      w.emplace_back(name, bench::random_tensor(std::string(k).rfind("weight", 0) == 0 ? Shape{4 * H, H} : Shape{4 * H}, 1 + w.size(), 0.04f));
      inputs.push_back(name);
    }
  json g = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {T, B, H}}}}}, {"outputs", {"y"}},
            {"nodes", {{{"name", "lstm"}, {"op", "LSTM"}, {"inputs", inputs}, {"outputs", {"y"}},
                        {"attrs", {{"hidden_size", H}, {"num_layers", 2}}}}}}};
  Model model = bench::load_graph("lstm", g, w);
  Session s(model, {"", o.threads});
  TensorMap in = {{"x", bench::random_tensor({T, B, H}, 99, 1.f)}}, out;
  bench::emit({{"bench", "lstm"}, {"threads", o.threads}, {"heed_us", time_point(o, 10, [&] { s.run(in, out); })}});

  NamedTensors cw = {{"w_ih", bench::random_tensor({4 * H, H}, 11, 0.04f)}, {"w_hh", bench::random_tensor({4 * H, H}, 12, 0.04f)},
                     {"b_ih", bench::random_tensor({4 * H}, 13)}, {"b_hh", bench::random_tensor({4 * H}, 14)}};
  json cg = {{"inputs", {{{"name", "x"}, {"dtype", "f32"}, {"shape", {1, H}}}, {{"name", "h"}, {"dtype", "f32"}, {"shape", {1, H}}},
                         {{"name", "c"}, {"dtype", "f32"}, {"shape", {1, H}}}}},
             {"outputs", {"h1", "c1"}},
             {"nodes", {{{"name", "cell"}, {"op", "LSTMCell"}, {"inputs", {"x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"}},
                         {"outputs", {"h1", "c1"}}}}}};
  Model cell = bench::load_graph("lstm_cell", cg, cw);
  Session cs(cell, {"", o.threads});
  TensorMap cin = {{"x", bench::random_tensor({1, H}, 15, 1.f)}, {"h", bench::random_tensor({1, H}, 16, 1.f)},
                   {"c", bench::random_tensor({1, H}, 17, 1.f)}},
            cout;
  bench::emit({{"bench", "lstm_cell"}, {"threads", o.threads}, {"heed_us", time_point(o, 200, [&] { cs.run(cin, cout); })}});
}

void bench_resnet(const bench::Options& o, const std::string& fixtures) {
  std::string weights = test::seeded_weights_file(fixtures + "/resnet50.manifest.json", "/tmp/heed_bench");
  Model model = Model::load(fixtures + "/resnet50.json", {weights});
  Session s(model, {"", o.threads});
  for (int64_t b : {1, 8}) {
    TensorMap in = {{"image", test::seeded_uniform("image", {b, 3, 224, 224}, -2.f, 2.f)}}, out;
    bench::emit({{"bench", "resnet50"}, {"batch", b}, {"threads", o.threads},
                 {"heed_us", time_point(o, b == 1 ? 5 : 1, [&] { s.run(in, out); })}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv);
  bench_lstm(o);
  bench_resnet(o, HEED_FIXTURES);
  return 0;
}
