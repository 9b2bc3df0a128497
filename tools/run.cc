// `heed run` and `heed profile`: run a graph on inputs from a safetensors file.
#include <heed/model.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "engine/safetensors.h"
#include "tools/commands.h"

namespace heed::tools {
namespace {

struct RunArgs {
  std::string model, inputs, output, graph, weights, trace;
  AttentionReport attention;  // --attention FILE.html
  int threads = 0, repeat = 1;
  Device device = Device::cpu;
  DType gemm_dtype = DType::f32;
  std::optional<Precision> precision;  // unset: as the model stores its weights
  bool profile = false;
  bool warmup = false;  // one untimed run first (primitive creation, thread start-up)
};

void print_outputs(const TensorMap& outputs) {
  for (const auto& [name, t] : outputs) {
    fmt::print("{}: {}{}", name, dtype_name(t.dtype()), t.shape().str());
    if (t.dtype() == DType::f32 || t.dtype() == DType::i64) {
      int64_t n = std::min<int64_t>(t.numel(), 8);
      std::vector<std::string> vals;
      for (int64_t i = 0; i < n; ++i)
        vals.push_back(t.dtype() == DType::f32 ? fmt::format("{:.6g}", t.data_as<float>()[i])
                                               : fmt::format("{}", t.data_as<int64_t>()[i]));
      fmt::print(" = [{}{}]", fmt::join(vals, ", "), t.numel() > n ? ", ..." : "");
    }
    fmt::print("\n");
  }
}

void run(const RunArgs& a) {
  if (a.repeat < 1) throw Error(fmt::format("--repeat must be at least 1, got {}", a.repeat));
  if (a.threads < 0) throw Error(fmt::format("--threads must be positive, got {}", a.threads));
  LoadOptions lo{a.weights};
  lo.capture_attention = !a.attention.html.empty();
  lo.device = a.device;
  lo.gemm_dtype = a.gemm_dtype;
  lo.precision = a.precision;
  Model model = Model::load(a.model, lo);
  SafetensorsFile in = read_safetensors(a.inputs);
  TensorMap inputs(in.tensors.begin(), in.tensors.end());
  Session session(model, {a.graph, a.threads, a.profile});
  TensorMap outputs;
  if (a.warmup) {
    outputs = session.run(inputs);
    session.reset_profile();
  }
  std::vector<double> ms;
  for (int r = 0; r < a.repeat; ++r) {
    // Each run writes into the previous one's outputs, as an application that
    // keeps its buffers does (Session::run's caller-owned outputs): no page
    // faults of fresh allocations in the times.
    auto t0 = std::chrono::steady_clock::now();
    session.run(inputs, outputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!a.output.empty()) write_safetensors(a.output, NamedTensors(outputs.begin(), outputs.end()));
  print_outputs(outputs);
  if (lo.capture_attention) {
    TensorMap weights;
    for (const auto& [name, t] : outputs)
      if (name.rfind("attention/", 0) == 0) weights[name.substr(10)] = t;
    AttentionReport report = a.attention;
    report.title = "Attention: " + a.model;
    write_attention_report(weights, report);
  }
  if (a.repeat > 1) {
    std::sort(ms.begin(), ms.end());
    fmt::print("{} runs: median {:.3f} ms, min {:.3f} ms, max {:.3f} ms\n", a.repeat, ms[ms.size() / 2],
               ms.front(), ms.back());
  }
  if (a.profile) {
    Profile p = session.profile();
    fmt::print("\n{}", p.table());
    if (!a.trace.empty()) {
      p.write_chrome_trace(a.trace);
      fmt::print("trace written to {}\n", a.trace);
    }
  }
}

CLI::App* add_common(CLI::App& app, const char* name, const char* help, std::shared_ptr<RunArgs> a) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("MODEL", a->model, "graph JSON, .safetensors with the graph in its metadata, or .onnx")->required();
  cmd->add_option("--inputs", a->inputs, "safetensors file holding one tensor per graph input")->required();
  cmd->add_option("--output", a->output, "write the outputs to this safetensors file");
  cmd->add_option("--graph", a->graph, "which graph to run (default: the only one, or 'main')");
  cmd->add_option("--weights", a->weights, "weights for a graph JSON (default: its \"weights\" entry)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  add_device_option(cmd, &a->device);
  add_gemm_dtype_option(cmd, &a->gemm_dtype);
  add_precision_option(cmd, &a->precision);
  return cmd;
}

}  // namespace

void add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* r = add_common(app, "run", "Run a graph once (or --repeat N times) and print or save its outputs", a);
  r->add_option("--repeat", a->repeat, "run N times and report the median time");
  r->add_option("--attention", a->attention.html,
                "capture every attention node's weights (outputs unchanged) and write heatmaps to this HTML file");
  r->add_option("--attention-png-dir", a->attention.png_dir, "with --attention: also one PNG per map here");
  r->add_option("--source-tokens", a->attention.source_tokens, "with --attention: labels for the key axis");
  r->add_option("--target-tokens", a->attention.target_tokens, "with --attention: labels for the query axis");
  r->add_option("--profile", a->trace, "print per-op timings; with =FILE also write a Chrome trace")
      ->expected(0, 1);
  r->callback([a, r] {
    a->profile = r->count("--profile") > 0;
    run(*a);
  });

  auto b = std::make_shared<RunArgs>();
  b->repeat = 20;
  auto* p = add_common(app, "profile", "Run a graph repeatedly and print per-op timings", b);
  p->add_option("--repeat", b->repeat, "number of timed runs (default 20, after one warm-up)");
  p->add_option("--trace", b->trace, "also write a Chrome trace (open in Perfetto)");
  p->callback([b] {
    b->profile = true;
    b->warmup = true;
    run(*b);
  });
}

}  // namespace heed::tools
