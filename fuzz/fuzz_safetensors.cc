// The safetensors reader on arbitrary bytes: headers, offsets, dtypes, sizes.
#include "fuzz/fuzz_util.h"
#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = heed::fuzz::write("input.safetensors", data, size);
  heed::fuzz::expect_no_crash([&] {
    heed::SafetensorsFile f = heed::read_safetensors(path);
    for (const auto& [name, t] : f.tensors) (void)t.nbytes();
  });
  return 0;
}
