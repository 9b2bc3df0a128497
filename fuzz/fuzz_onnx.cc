// The ONNX importer on arbitrary bytes: the wire-format reader, opsets,
// initializers, attributes, constant folding, op translation and fusion.
#include <heed/model.h>

#include "fuzz/fuzz_util.h"
#include "loaders/onnx/onnx_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = heed::fuzz::write("input.onnx", data, size);
  heed::fuzz::expect_no_crash([&] { (void)heed::Model::load(path).describe(); });
  heed::fuzz::expect_no_crash([&] {  // the same bytes as one TensorProto (ONNX's test data files)
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    (void)heed::onnx_import::tensor_from_proto(heed::onnx_import::parse_tensor(bytes, path), "", path);
  });
  return 0;
}
