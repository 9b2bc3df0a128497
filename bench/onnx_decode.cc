// Greedy decoding with an ONNX decoder exported with past keys/values (GPT-2
// as bench/onnx_runtime.py exports it): the prompt in one pass, then one token
// a step, each step's present_* fed back as past_*. Prints one JSON line:
// load time, the first generation's milliseconds (it plans each new past
// length), the median of the later ones, tokens per second from the median.
//
//   heed_bench_onnx_decode MODEL.onnx --batch 1 --prompt 8 --tokens 64 --threads 2 --repeats 3 [--device cuda]
//
// --profile: the timed generations run with per-node timings, whose table
// (heed's profile: nodes by total time, then totals per op) goes to stderr.
#include <heed/model.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace {

using namespace heed;

struct Args {
  std::string model;
  int64_t batch = 1, prompt = 8, tokens = 64;
  int threads = 0, repeats = 3;
  bool profile = false;
  Device device = Device::cpu;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] {
      if (i + 1 >= argc) std::exit((std::fprintf(stderr, "%s needs a value\n", argv[i]), 2));
      return std::atoll(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--batch")) a.batch = value();
    else if (!std::strcmp(argv[i], "--prompt")) a.prompt = value();
    else if (!std::strcmp(argv[i], "--tokens")) a.tokens = value();
    else if (!std::strcmp(argv[i], "--threads")) a.threads = int(value());
    else if (!std::strcmp(argv[i], "--repeats")) a.repeats = int(value());
    else if (!std::strcmp(argv[i], "--profile")) a.profile = true;
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) a.device = std::strcmp(argv[++i], "cuda") ? Device::cpu : Device::cuda;
    else if (argv[i][0] != '-' && a.model.empty()) a.model = argv[i];
    else std::exit((std::fprintf(stderr, "usage: %s MODEL.onnx [--batch B] [--prompt P] [--tokens N] [--threads T] [--repeats R] [--profile] [--device cpu|cuda]\n", argv[0]), 2));
  }
  if (a.model.empty()) std::exit((std::fprintf(stderr, "give MODEL.onnx\n"), 2));
  return a;
}

Tensor filled(DType dtype, Shape shape, int64_t value) {
  Tensor t = Tensor::empty(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<int64_t>()[i] = value;
  return t;
}

// One generation: returns the last step's tokens' sum (so the work is not optimized away).
int64_t generate(Session& session, const Model& model, const Args& a) {
  TensorMap in{{"input_ids", filled(DType::i64, Shape{a.batch, a.prompt}, 7)},
               {"attention_mask", filled(DType::i64, Shape{a.batch, a.prompt}, 1)}};
  for (const auto& input : model.inputs()) {
    if (!input.name.starts_with("past_")) continue;
    Shape shape;  // [batch, heads, past = 0, head dim]
    for (const std::string& d : input.dims) shape.push_back(std::isdigit(d[0]) ? std::stoll(d) : 0);
    shape[0] = a.batch;
    in[input.name] = Tensor::empty(DType::f32, shape);
  }
  int64_t sum = 0;
  for (int64_t step = 0; step < a.tokens; ++step) {
    TensorMap out = session.run(in);
    const Tensor& logits = out.at("logits");
    const int64_t fed = logits.shape()[1], vocab = logits.shape()[2];
    Tensor next = Tensor::empty(DType::i64, Shape{a.batch, 1});
    for (int64_t b = 0; b < a.batch; ++b) {
      const float* row = logits.data_as<float>() + (b * fed + fed - 1) * vocab;
      next.data_as<int64_t>()[b] = std::max_element(row, row + vocab) - row;
      sum += next.data_as<int64_t>()[b];
    }
    const int64_t total = in.at("attention_mask").shape()[1] + 1;
    in["input_ids"] = next;
    in["attention_mask"] = filled(DType::i64, Shape{a.batch, total}, 1);
    for (auto& [name, t] : in)
      if (name.starts_with("past_")) t = out.at("present_" + name.substr(5));
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  try {
    auto t0 = std::chrono::steady_clock::now();
    LoadOptions load;
    load.device = a.device;
    Model model = Model::load(a.model, load);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    SessionOptions options;
    options.threads = a.threads;
    options.profile = a.profile;
    Session session(model, options);
    auto first = std::chrono::steady_clock::now();
    int64_t check = generate(session, model, a);  // warm-up: each new past length is planned here
    double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first).count();
    session.reset_profile();
    std::vector<double> ms;
    for (int r = 0; r < a.repeats; ++r) {
      auto t = std::chrono::steady_clock::now();
      if (generate(session, model, a) != check) throw Error("a generation gave other tokens than the first");
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    double median = bench::median(ms);
    if (a.profile) std::fputs(session.profile().table().c_str(), stderr);
    std::printf("{\"load_s\": %.3f, \"first_ms\": %.1f, \"median_ms\": %.1f, \"tokens_per_s\": %.1f}\n", load_s,
                first_ms, median, double(a.batch * a.tokens) / median * 1e3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heed_bench_onnx_decode: %s\n", e.what());
    return 1;
  }
}
