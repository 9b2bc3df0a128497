// A graph JSON through parsing, validation, shape inference, load-time rewrites
// and CPU compilation (kernels built, weights packed), over tiny weights, and
// a run when every input shape is known and small.
#include <heed/model.h>

#include <string_view>

#include "fuzz/fuzz_util.h"
#include "engine/safetensors.h"

namespace {

// Weights a fuzzed graph may name: "w" [4, 4], "b" [4], "conv" [4, 4, 3, 3], "table" [16, 4].
std::string weights_file() {
  static const std::string path = [] {
    std::string p = heed::fuzz::work_dir() + "/weights.safetensors";
    heed::NamedTensors t;
    for (auto [name, shape] : {std::pair<const char*, heed::Shape>{"w", {4, 4}}, {"b", {4}}, {"conv", {4, 4, 3, 3}}, {"table", {16, 4}}}) {
      heed::Tensor x = heed::Tensor::empty(heed::DType::f32, shape);
      for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = float(i % 7) * 0.25f - 0.5f;
      t.emplace_back(name, x);
    }
    heed::write_safetensors(p, t);
    return p;
  }();
  return path;
}

void run_if_small(const heed::Model& model) {
  for (const std::string& g : model.graph_names()) {
    heed::TensorMap inputs;
    for (const heed::ValueInfo& in : model.inputs(g)) {
      heed::Shape s;
      for (const std::string& d : in.dims) s.push_back(d.empty() || !std::isdigit(static_cast<unsigned char>(d[0])) ? 2 : std::stoll(d));
      if (s.numel() > 4096) return;
      inputs[in.name] = heed::Tensor::zeros(in.dtype, s);
    }
    heed::Session(model, {g, 1}).run(inputs);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = heed::fuzz::write("graph.json", data, size);
  heed::fuzz::expect_no_crash([&] {
    heed::Model model = heed::Model::load(path, heed::LoadOptions{weights_file()});
    run_if_small(model);
  });
  // Calibrated ranges plan u8/i8 values between int8 convolutions: that planner too.
  if (std::string_view(reinterpret_cast<const char*>(data), size).find("activation_ranges") != std::string_view::npos)
    heed::fuzz::expect_no_crash([&] {
      heed::LoadOptions o{weights_file()};
      o.precision = heed::Precision::int8;
      run_if_small(heed::Model::load(path, o));
    });
  return 0;
}
