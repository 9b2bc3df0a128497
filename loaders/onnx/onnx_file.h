#pragma once
// Reading an ONNX file: the model (onnx_proto.h), its default-domain opset, and
// TensorProtos (raw, typed or external data) as heed tensors.
#include <heed/tensor.h>

#include <memory>
#include <string>

#include "loaders/onnx/onnx_proto.h"

namespace heed::onnx_import {

inline constexpr int64_t kMinOpset = 11, kMaxOpset = 17;

// Maps and parses `path`; throws heed::Error naming it if it is not an ONNX
// model, uses an opset heed does not import, or a domain other than ONNX's.
ModelProto read_onnx_model(const std::string& path);
int64_t onnx_opset(const ModelProto& model);

// `model_dir` resolves external data; `where` names the tensor in errors. With
// `mapping` (what t.raw_data points into), aligned raw data is viewed, not copied.
Tensor tensor_from_proto(const TensorProto& t, const std::string& model_dir, const std::string& where,
                         std::shared_ptr<const void> mapping = nullptr);
DType dtype_from_onnx(int32_t elem_type, const std::string& where);

}  // namespace heed::onnx_import
