#pragma once
// Helpers for kernels built on oneDNN primitives. Every primitive uses a
// user-managed scratchpad owned by its invocation: one primitive may then run in
// several sessions at once (the library-managed scratchpad is not safe for that).
#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>
#include <vector>

#include "engine/backend.h"

namespace heed::cpu {

dnnl::engine& cpu_engine();
dnnl::memory::data_type dnnl_dtype(DType dtype);
dnnl::memory::dims dnnl_dims(const Shape& shape);
// Dense row-major description of a shape (rank 0 is described as [1]).
dnnl::memory::desc plain_desc(DType dtype, const Shape& shape);
// A tensor's description in the layout the plan chose (dense, or channel-blocked).
dnnl::memory::desc layout_desc(const TensorDesc& t);
dnnl::primitive_attr scratchpad_attr();
// Executes `p` through the C API on a prebuilt argument array (no allocation per
// call); throws heed::Error naming `what` on failure.
void execute(const dnnl::primitive& p, const dnnl::stream& s, const std::vector<dnnl_exec_arg_t>& args, const char* what);

// A reorder between two layouts (or types) of one tensor, run on given buffers.
struct Reorder {
  Reorder() = default;
  Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to)
      : src(from, cpu_engine(), DNNL_MEMORY_NONE), dst(to, cpu_engine(), DNNL_MEMORY_NONE), prim(src, dst) {}
  // Multiplying by `scale` on the way (a quantized value to fp32).
  Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to, float scale)
      : src(from, cpu_engine(), DNNL_MEMORY_NONE), dst(to, cpu_engine(), DNNL_MEMORY_NONE),
        prim(src, dst, scaled(scale)) {}
  void run(dnnl::stream& s, const void* from, void* to) {
    src.set_data_handle(const_cast<void*>(from));
    dst.set_data_handle(to);
    prim.execute(s, src, dst);
  }
  dnnl::memory src, dst;
  dnnl::reorder prim;

 private:
  static dnnl::primitive_attr scaled(float scale) {
    dnnl::primitive_attr attr;
    attr.set_output_scales(0, {scale});
    return attr;
  }
};

// Runs one primitive; operand memories are rebound to the run's buffers each time.
class DnnlInvocation final : public Invocation {
 public:
  DnnlInvocation(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad);
  void bind_input(int arg, const dnnl::memory::desc& md, size_t input);
  void bind_output(int arg, const dnnl::memory::desc& md, size_t output);
  void bind_fixed(int arg, const dnnl::memory& mem);
  void run(const Buffers& io) override;

 private:
  struct Binding {
    dnnl::memory mem;
    bool is_input;
    size_t index;
  };

  dnnl::primitive primitive_;
  dnnl::stream stream_{cpu_engine()};
  std::unordered_map<int, dnnl::memory> args_;  // owns the memory objects
  std::vector<dnnl_exec_arg_t> exec_args_;      // the C API's view of args_, built once
  std::vector<Binding> bindings_;
};

// dnnl_invocation<dnnl::matmul>(pd): the primitive of `pd` with its scratchpad.
template <typename Primitive, typename PrimitiveDesc>
std::unique_ptr<DnnlInvocation> dnnl_invocation(const PrimitiveDesc& pd) {
  return std::make_unique<DnnlInvocation>(Primitive(pd), pd.scratchpad_desc());
}

}  // namespace heed::cpu
