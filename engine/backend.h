#pragma once
// The contract between the engine and a backend (CPU, CUDA).
//
//  Kernel      one per node, built at model load; owns prepacked weights; immutable
//              and shared by every session.
//  Invocation  built by Kernel::prepare for one session and one set of concrete
//              shapes (e.g. a oneDNN primitive with its scratchpad); run() is the
//              per-run hot path and must not allocate.
#include <heed/model.h>
#include <heed/tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/graph.h"

namespace heed {

struct StoredWeight;

struct TensorDesc {
  DType dtype = DType::f32;
  Shape shape;
  bool present = true;  // false for an optional input left out
  // 0: dense row-major. Otherwise the backend's channel-blocked layout for
  // [N, C, H, W] activations passed between its convolution-family kernels
  // (e.g. oneDNN's nChw8c): channels in blocks of this size, padded; 1 is
  // channels last (NHWC), the one block that holds every channel unpadded.
  int channel_block = 0;
  // A small integer tensor's elements when the plan knows them (a shape the
  // graph computed: Slice's starts, Range's start): kernels read them here.
  std::vector<int64_t> elements = {};
  // int8 with calibrated activation ranges (ir::Graph::activation_ranges): the
  // scale of the value's quantized form (value ~ q * scale; 0: uncalibrated).
  // dtype u8 or i8: its elements are stored so (engine/quantized_values.h);
  // f32: a kernel that quantizes it uses this scale, in u8 when `nonnegative`.
  float scale = 0.f;
  bool nonnegative = false;
  size_t nbytes() const {
    size_t n = size_t(shape.numel());
    if (channel_block && shape.rank() >= 2 && shape[1] > 0)
      n = n / size_t(shape[1]) * size_t((shape[1] + channel_block - 1) / channel_block * channel_block);
    return n * dtype_size(dtype);
  }
};

struct NodeShapes {
  std::vector<TensorDesc> in, out;
};

// Where a node's operands live during one run: pointers into the session's value table.
struct Buffers {
  void* const* values;
  const int* in_ids;
  const int* out_ids;
  size_t num_inputs;  // inputs past the node's list are absent optional ones
  void* workspace = nullptr;  // the invocation's workspace_bytes(), for this run only
  const void* in(size_t i) const { return i >= num_inputs || in_ids[i] < 0 ? nullptr : values[in_ids[i]]; }
  void* out(size_t i) const { return values[out_ids[i]]; }
  template <typename T> const T* in_as(size_t i) const { return static_cast<const T*>(in(i)); }
  template <typename T> T* out_as(size_t i) const { return static_cast<T*>(out(i)); }
};

class Invocation {
 public:
  virtual ~Invocation() = default;
  virtual void run(const Buffers& io) = 0;
  // Scratch memory run() needs, given as io.workspace (64-byte aligned). A
  // session has one workspace, as large as its largest invocation's, shared by
  // all of them since they run one at a time: nothing in it outlives a run.
  virtual size_t workspace_bytes() const { return 0; }
  // A device kernel that validates data on the device (token ids in range, a KV
  // cache position within capacity) reports here, once the run's work is done:
  // throws heed::Error naming the node. No host round trip inside run().
  virtual void check_after_run(const Buffers& /*io*/) const {}
  // Whether run() only queues device work that a recording can replay with the
  // same pointers (CUDA Graphs): no host reads of device data, no host-side
  // decisions on values.
  virtual bool replayable() const { return true; }
};

// Which values a kernel reads and writes quantized (TensorDesc::scale, u8/i8),
// when the model runs in int8 with calibrated activation ranges.
struct QuantizedIO {
  std::vector<int> inputs;  // the inputs it takes quantized
  // It writes its output quantized only when this input is quantized too (-1:
  // always; an absent input: no condition): a convolution adds its residual in
  // the output's type, a max pool writes its input's integers.
  int needs = -1;
  bool keeps_scale = false;  // its quantized output has that input's dtype and scale
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual std::unique_ptr<Invocation> prepare(const NodeShapes& shapes) const = 0;
  // Whether prepared invocations read constant input `input` (KernelInit::constants)
  // when they run. False once the kernel keeps all it needs of it (a packed copy):
  // the model then frees the weight, unless another node reads it.
  virtual bool reads_constant(size_t /*input*/) const { return true; }
  // The arithmetic its GEMMs run in (LoadOptions::precision, where it took it).
  virtual Precision precision() const { return Precision::f32; }
  virtual const QuantizedIO* quantized_io() const { return nullptr; }
};

struct KernelInit {
  const ir::Node& node;
  std::vector<ir::ValueType> input_types;  // load-time types (dims may be symbolic)
  std::vector<const Tensor*> constants;    // per input: the weight/constant, or nullptr
  DType gemm_dtype = DType::f32;           // LoadOptions::gemm_dtype (f16/bf16: tensor-core GEMMs, CUDA)
  Precision precision = Precision::f32;    // LoadOptions::precision (the CPU's projections)
  // Per input: the weight as a quantized file stores it (engine/stored_weight.h),
  // or nullptr. `constants` holds its f32 values all the same; a kernel running
  // in the stored precision packs this form instead, as it is.
  std::vector<const StoredWeight*> stored = {};
};

// One contiguous copy within a backend's memory.
struct CopyBlock {
  void* dst;
  const void* src;
  size_t bytes;
};

// Queued work recorded once and replayed (a CUDA Graph of a decode step).
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  virtual void replay() = 0;
};

// Device-side timing of consecutive stretches of queued work (the profiler's
// per-node times on a GPU, without a synchronization per node).
class EventClock {
 public:
  virtual ~EventClock() = default;
  // Records mark i after the work queued so far on the calling thread's queue.
  virtual void mark(size_t i) = 0;
  // Waits for mark n; out[i] = microseconds from mark i to mark i + 1, i < n.
  virtual void elapsed_us(double* out, size_t n) = 0;
};

// Generation's choice at one step: for each row r of logits [rows, vocab] (in
// the backend's memory), log_softmax(row) + base[r] after transformers' logits
// processors (token `hold` at -inf: EOS before min_new_tokens; `forced`: every
// other token at -inf and it at base[r]), and the row's `keep` best as (score,
// index), best first, ties to the lower index.
struct CandidateQuery {
  const float* logits = nullptr;
  int64_t rows = 0, vocab = 0, keep = 1;
  const float* base = nullptr;     // host, [rows]; nullptr: zeros
  const uint8_t* skip = nullptr;   // host, [rows]: rows nobody reads (may be left unscored)
  int64_t hold = -1, forced = -1;  // -1: none
  bool log_probs = false;          // logits are already log-probabilities (processed on the host): no log-softmax
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // What it runs on and with which kernels, as `heed inspect --cpu` prints it:
  // lines of "key: value".
  virtual std::string report() const { return ""; }
  virtual bool supports(std::string_view op) const = 0;
  virtual std::unique_ptr<Kernel> make_kernel(const KernelInit& init) const = 0;
  // Whether the kernel made from `init` takes input `input` in its stored form
  // (KernelInit::stored: packs it, in its precision, or reads rows of it) and
  // never reads its f32 values, which are then not made: its `constants` entry
  // has the weight's dtype and shape, and no data.
  virtual bool packs_stored(const KernelInit& /*init*/, size_t /*input*/) const { return false; }
  virtual void set_threads(int threads) const = 0;  // for the calling thread
  // The channel block of the backend's native activation layout for a model of
  // `precision` (0: none; 1: channels last), and whether an op's kernel reads
  // input `input` / writes its output in it.
  virtual int channel_block(Precision /*precision*/) const { return 0; }
  virtual bool takes_blocked(std::string_view /*op*/, size_t /*input*/) const { return false; }
  virtual bool makes_blocked(std::string_view /*op*/) const { return false; }
  // The op's output must be in its first input's layout.
  virtual bool keeps_layout(std::string_view /*op*/) const { return false; }
  // The input whose buffer the op's kernel may write its output over, when
  // nothing reads that input afterwards (-1: none): a residual that a
  // convolution adds into its output then needs no copy.
  virtual int writes_over_input(std::string_view /*op*/) const { return -1; }
  virtual int default_threads() const = 0;

  // The memory its kernels read and write. The CPU's is host memory (these
  // defaults); a device backend allocates on its device, and the session copies
  // inputs in and outputs out at the graph's boundaries.
  virtual Device device() const { return Device::cpu; }
  virtual void* allocate(size_t bytes) const;
  virtual void deallocate(void* p) const;
  virtual void copy_in(void* dst, const void* host_src, size_t bytes) const;
  virtual void copy_out(void* host_dst, const void* src, size_t bytes) const;
  virtual void synchronize() const {}  // wait for the calling thread's queued work
  // Copies within the backend's memory, queued together (beam reorders of KV
  // caches, repeated rows); the blocks' destinations must not overlap their sources.
  virtual void copy_blocks(const std::vector<CopyBlock>& blocks) const;
  virtual void fill_zero(void* dst, size_t bytes) const;
  // Host arrays scores and indices [rows * keep] for `q` (see CandidateQuery):
  // on a device only these come back, not the logits.
  virtual void best_candidates(const CandidateQuery& q, float* scores, int64_t* indices) const;
  // Records what `work` queues on the calling thread's queue, without running
  // it; nullptr where the backend cannot record (the CPU) or recording failed,
  // and then nothing was run either.
  virtual std::unique_ptr<RecordedWork> record(const std::function<void()>& /*work*/) const { return nullptr; }
  // Marks 0..marks-1 for the profiler; nullptr: nodes are timed on the host clock.
  virtual std::unique_ptr<EventClock> make_event_clock(size_t /*marks*/) const { return nullptr; }
};

// Memory from a backend, returned to it on destruction.
class BackendBuffer {
 public:
  BackendBuffer() = default;
  BackendBuffer(const Backend& b, size_t bytes) : backend_(&b), data_(bytes ? b.allocate(bytes) : nullptr) {}
  BackendBuffer(BackendBuffer&& o) noexcept : backend_(o.backend_), data_(o.data_) { o.data_ = nullptr; }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    std::swap(backend_, o.backend_);
    std::swap(data_, o.data_);
    return *this;
  }
  ~BackendBuffer() {
    if (data_) backend_->deallocate(data_);
  }
  void* get() const { return data_; }

 private:
  const Backend* backend_ = nullptr;
  void* data_ = nullptr;
};

const Backend& cpu_backend();
// The backend whose memory holds tensors of `device`.
const Backend& backend_for(Device device);
// A zero-filled tensor in `backend`'s memory (a host tensor for the CPU's);
// its memory goes back to the backend with the last copy of the tensor.
Tensor new_tensor(const Backend& backend, DType dtype, const Shape& shape);
// The CUDA backend; throws heed::Error saying why when this build has none or
// the machine has no usable GPU.
const Backend& cuda_backend();

}  // namespace heed
