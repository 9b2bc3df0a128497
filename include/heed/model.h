#pragma once
// Load a model, run its graphs. A Model is immutable and may be shared by many
// threads; each thread runs it through its own Session.
#include <heed/error.h>
#include <heed/export.h>
#include <heed/profile.h>
#include <heed/tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heed {

namespace detail {
class ModelImpl;
class SessionImpl;
struct ModelAccess;
}  // namespace detail

// The arithmetic of the model's GEMMs (LoadOptions::precision).
//   f32   everything in fp32 (the default)
//   bf16  weights stored in bf16, inputs rounded to bf16, fp32 accumulation and output
//   int8  weights quantized at load per output channel (symmetric), inputs per row
//         at run time (dynamic), int32 accumulation, results in fp32
// A file `heed quantize` wrote stores its weights so already (docs/precision.md).
// On the CPU, Linear, MatMul with a constant operand, the projections of
// MultiHeadAttention, LSTM/GRU and their cells, and Conv2d take it; every other
// op, and softmax, layer norm and attention scores, stay in fp32. `heed inspect`
// says which nodes run in which.
enum class Precision { f32, bf16, int8 };
HEED_API std::string_view precision_name(Precision p);         // "f32", "bf16", "int8"
HEED_API Precision precision_from_name(std::string_view name);  // throws heed::Error on another name

struct LoadOptions {
  // For a graph JSON: the safetensors file with its weights (default: the
  // JSON's "weights" entry, relative to the JSON file).
  std::string weights;
  // Every attention node (GlobalAttention, LocalAttention, MultiHeadAttention)
  // also returns its weights, as the extra output "attention/<node name>", without
  // changing any other output.
  bool capture_attention = false;
  // Fold BatchNorm2d into the preceding Conv2d and fuse residual Adds and ReLUs
  // into it (results equal within float rounding).
  bool optimize = true;
  // Where the graphs run: Device::cuda needs a build with the CUDA backend
  // (HEED_CUDA) and a GPU, else loading fails saying which is missing. Host
  // inputs and outputs are copied at the graph's boundaries; tensors in the
  // device's memory (Session::new_tensor) are used in place.
  Device device = Device::cpu;
  // Linear and MatMul on CUDA tensor cores in f16 or bf16 (inputs rounded, fp32
  // accumulation and output; constant weights converted once at load). f32 (the
  // default) keeps every GEMM in fp32; f16/bf16 need Device::cuda.
  DType gemm_dtype = DType::f32;
  // See Precision. bf16 on CUDA is gemm_dtype bf16; int8 runs on the CPU only.
  // A CPU without a bf16 or int8 GEMM (oneDNN's reference code only) is refused at load.
  // Unset: the precision a quantized file (`heed quantize`) stores its weights
  // in, else f32. Any other precision reads a quantized file's weights as the
  // f32 values they stand for.
  std::optional<Precision> precision;
};

struct ValueInfo {
  std::string name;
  DType dtype;
  std::vector<std::string> dims;  // "512" or a symbol such as "batch"
};

class HEED_API Model {
 public:
  // `path`: a graph JSON (weights beside it), a single .safetensors whose
  // __metadata__ holds the graph JSON under "heed.graph", an ONNX file
  // (".onnx"), or a checkpoint directory (Hugging Face Marian, heed LSTM
  // seq2seq, ...) that an importer turns into graphs.
  static Model load(const std::string& path, const LoadOptions& options = {});

  std::vector<std::string> graph_names() const;
  std::vector<ValueInfo> inputs(const std::string& graph = "") const;
  std::vector<ValueInfo> outputs(const std::string& graph = "") const;
  // Every graph with its nodes and load-time inferred shapes, as text.
  std::string describe() const;
  // What an importer recorded about the model ("architecture", token ids, ...).
  const std::map<std::string, std::string>& metadata() const;

  const detail::ModelImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const detail::ModelImpl> impl_;
  friend class Session;
  friend struct detail::ModelAccess;
};

struct SessionOptions {
  std::string graph;    // empty: the model's only graph, or "main"
  int threads = 0;      // 0: all cores
  bool profile = false; // collect per-node timings (no cost when off)
  // Outputs the caller did not provide are allocated in the device's memory
  // (Device::cuda: results stay on the GPU for the next graph; no effect on the CPU).
  bool keep_outputs_on_device = false;
};

using TensorMap = std::map<std::string, Tensor>;

class HEED_API Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Inputs by name; returns freshly allocated outputs by name. Throws heed::Error
  // naming the input on a missing, unknown or mis-shaped input.
  TensorMap run(const TensorMap& inputs);
  // The same, writing into caller-owned outputs where `outputs` already holds a
  // tensor of the right dtype and shape under an output's name (no allocation);
  // other outputs are allocated and added.
  void run(const TensorMap& inputs, TensorMap& outputs);
  // A zero-filled tensor in the memory the session's graph runs in: a host
  // tensor on the CPU, device memory on a GPU. As an input it is read (and, for
  // a KV cache, updated) in place; as a caller-owned output it is written in
  // place: no copies between runs. Tensors of another device are refused.
  Tensor new_tensor(DType dtype, const Shape& shape) const;
  // A host tensor's copy in that memory (on the CPU: the tensor itself), and a
  // host copy of a tensor there (a host tensor: itself). Both wait for the copy.
  Tensor to_device(const Tensor& host) const;
  Tensor to_host(const Tensor& t) const;

  Profile profile() const;
  void reset_profile();

 private:
  std::unique_ptr<detail::SessionImpl> impl_;
};

}  // namespace heed
