// The safetensors reader on arbitrary bytes: headers, offsets, dtypes, sizes;
// then the weight store on what it read: a quantized file's metadata, stored
// weights and their scales (engine/stored_weight.h), their f32 values made.
#include "fuzz/fuzz_util.h"
#include "engine/safetensors.h"
#include "engine/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = heed::fuzz::write("input.safetensors", data, size);
  heed::fuzz::expect_no_crash([&] {
    heed::SafetensorsFile f = heed::read_safetensors(path);
    for (const auto& [name, t] : f.tensors) (void)t.nbytes();
    heed::WeightStore weights;
    weights.add_file(f);
    weights.materialize_all();
  });
  return 0;
}
