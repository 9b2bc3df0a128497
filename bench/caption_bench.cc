// Captioning throughput through heed::Captioner, warm (one untimed pass first,
// as the PyTorch side of bench/vision.py): median seconds to caption the images
// (decoding, transforms, encoder and search), as one JSON line.
//
//   heed_bench_caption MODEL_DIR IMAGE... [--batch B] [--beam K] [--words W] [--threads T] [--repeats R]
//                      [--device cpu|cuda] [--precision f32|bf16|int8]
#include <heed/caption.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  int batch = 1, beam = 1, words = 20, threads = 0, repeats = 5;
  heed::Device device = heed::Device::cpu;
  heed::Precision precision = heed::Precision::f32;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) {
      device = std::string(argv[++i]) == "cuda" ? heed::Device::cuda : heed::Device::cpu;
      continue;
    }
    if (a == "--precision" && i + 1 < argc) {
      precision = heed::precision_from_name(argv[++i]);
      continue;
    }
    int* target = a == "--batch" ? &batch : a == "--beam" ? &beam : a == "--words" ? &words : a == "--threads" ? &threads
                : a == "--repeats" ? &repeats : nullptr;
    if (target && i + 1 < argc) *target = std::atoi(argv[++i]);
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE... [--batch B] [--beam K] [--words W] [--threads T] [--repeats R] "
                   "[--device cpu|cuda] [--precision f32|bf16|int8]\n", argv[0]);
      return 2;
    } else positional.push_back(a);
  }
  if (positional.size() < 2) return std::fprintf(stderr, "give MODEL_DIR and at least one image\n"), 2;
  heed::CaptionerOptions options{threads, false, batch, device};
  options.precision = precision;
  heed::Captioner captioner(positional[0], options);
  std::vector<std::string> images(positional.begin() + 1, positional.end());
  heed::GenerationOptions o;
  o.beam_size = beam;
  o.max_new_tokens = words;
  std::vector<double> seconds;
  for (int r = 0; r <= repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    captioner.caption(images, o);
    if (r > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  heed::bench::emit({{"seconds", heed::bench::median(seconds)}, {"images", images.size()}, {"batch", batch}, {"beam", beam}});
}
