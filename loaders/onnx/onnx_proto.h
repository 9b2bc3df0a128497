#pragma once
// The parts of ONNX's protobuf schema heed imports (onnx.proto, as Debian's
// libonnx-dev ships it; field numbers below), read straight from the wire
// format. Why not libprotobuf: Debian's libsentencepiece exports a protobuf 3.14
// runtime of its own, and a process holding it and the shared libprotobuf 3.21
// crashes at start-up as their symbols interpose; the static runtime cannot go
// into libheed.so (initial-exec TLS). docs/onnx.md.
//
// Raw tensor bytes stay views into the file's mapping (no copy of the weights).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heed {
class MappedFile;
}

namespace heed::onnx_import {

// TensorProto.DataType values.
enum ElemType : int32_t {
  kUndefined = 0, kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7,
  kString = 8, kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kBfloat16 = 16,
};
std::string elem_type_name(int32_t t);

struct TensorProto {
  std::string name;
  std::vector<int64_t> dims;
  int32_t data_type = kUndefined;
  bool has_raw_data = false;
  std::string_view raw_data;  // into the model file's mapping
  std::vector<float> float_data;
  std::vector<int32_t> int32_data;
  std::vector<int64_t> int64_data;
  std::vector<double> double_data;
  bool external = false;  // data_location EXTERNAL
  std::vector<std::pair<std::string, std::string>> external_data;
};

struct AttributeProto {
  enum Type : int32_t { kUnset = 0, kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kGraph = 5,
                        kFloats = 6, kInts = 7, kStrings = 8, kTensors = 9, kGraphs = 10 };
  std::string name;
  int32_t type = kUnset;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::shared_ptr<TensorProto> t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct NodeProto {
  std::vector<std::string> input, output;
  std::string name, op_type, domain;
  std::vector<AttributeProto> attribute;
};

struct Dimension {
  bool has_value = false;
  int64_t value = 0;
  std::string param;
};

struct ValueInfoProto {
  std::string name;
  bool is_tensor = false;  // TypeProto.tensor_type present
  int32_t elem_type = kUndefined;
  bool has_shape = false;
  std::vector<Dimension> dims;
};

struct GraphProto {
  std::string name;
  std::vector<NodeProto> node;
  std::vector<TensorProto> initializer;
  std::vector<ValueInfoProto> input, output;
};

struct ModelProto {
  int64_t ir_version = 0;
  std::vector<std::pair<std::string, int64_t>> opset_import;  // domain, version
  std::string producer_name, producer_version;
  bool has_graph = false;
  GraphProto graph;
  std::shared_ptr<const MappedFile> mapping;  // what raw_data views
};

// Throws heed::Error naming `source` (and the byte offset) on malformed bytes.
ModelProto parse_model(std::string_view bytes, const std::string& source);
// One serialized TensorProto (ONNX's test data, input_0.pb); raw_data views `bytes`.
TensorProto parse_tensor(std::string_view bytes, const std::string& source);

}  // namespace heed::onnx_import
