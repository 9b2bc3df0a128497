#include "backends/cpu/dnnl_util.h"

#include <heed/error.h>

#include <fmt/format.h>

#include "engine/cpu_isa.h"

namespace heed::cpu {

// The first oneDNN call of the process: an AVX2 process (HEED_CPU_ISA=avx2) caps
// oneDNN at AVX2 before it generates any code, so that its kernels and layouts
// are those of a machine without AVX-512.
dnnl::engine& cpu_engine() {
  static dnnl::engine engine = [] {
    if (cpu_isa() == CpuIsa::avx2 && cpu_has_avx512()) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

dnnl::memory::data_type dnnl_dtype(DType dtype) {
  using dt = dnnl::memory::data_type;
  switch (dtype) {
    case DType::f32: return dt::f32;
    case DType::f16: return dt::f16;
    case DType::bf16: return dt::bf16;
    case DType::i32: return dt::s32;
    case DType::u8: case DType::boolean: return dt::u8;
    case DType::i8: return dt::s8;
    case DType::i64: break;
  }
  throw Error(fmt::format("oneDNN has no {} data type", dtype_name(dtype)));
}

dnnl::memory::dims dnnl_dims(const Shape& shape) {
  if (shape.rank() == 0) return {1};
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc plain_desc(DType dtype, const Shape& shape) {
  dnnl::memory::dims dims = dnnl_dims(shape), strides(dims.size());
  dnnl::memory::dim s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  return dnnl::memory::desc(dims, dnnl_dtype(dtype), strides);
}

dnnl::memory::desc layout_desc(const TensorDesc& t) {
  if (!t.channel_block) return plain_desc(t.dtype, t.shape);
  using tag = dnnl::memory::format_tag;
  if (t.shape.rank() != 4 || (t.channel_block != 1 && t.channel_block != 8 && t.channel_block != 16))
    throw Error(fmt::format("no blocked layout for {} with blocks of {}", t.shape.str(), t.channel_block));
  const tag layout = t.channel_block == 1 ? tag::acdb : t.channel_block == 8 ? tag::aBcd8b : tag::aBcd16b;
  return dnnl::memory::desc(dnnl_dims(t.shape), dnnl_dtype(t.dtype), layout);
}

dnnl::primitive_attr scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

DnnlInvocation::DnnlInvocation(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad)
    : primitive_(std::move(primitive)) {
  if (scratchpad.get_size() > 0) args_[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, cpu_engine());
}

void DnnlInvocation::bind_input(int arg, const dnnl::memory::desc& md, size_t input) {
  dnnl::memory mem(md, cpu_engine(), DNNL_MEMORY_NONE);
  args_[arg] = mem;
  bindings_.push_back({mem, true, input});
}

void DnnlInvocation::bind_output(int arg, const dnnl::memory::desc& md, size_t output) {
  dnnl::memory mem(md, cpu_engine(), DNNL_MEMORY_NONE);
  args_[arg] = mem;
  bindings_.push_back({mem, false, output});
}

void DnnlInvocation::bind_fixed(int arg, const dnnl::memory& mem) { args_[arg] = mem; }

// The C API takes a prebuilt argument array; the C++ execute() would build a
// vector from the map on every call.
void DnnlInvocation::run(const Buffers& io) {
  if (exec_args_.size() != args_.size()) {
    exec_args_.clear();
    for (const auto& [arg, mem] : args_) exec_args_.push_back({arg, mem.get()});
  }
  for (Binding& b : bindings_)
    dnnl_memory_set_data_handle_v2(b.mem.get(), b.is_input ? const_cast<void*>(io.in(b.index)) : io.out(b.index),
                                   nullptr);
  execute(primitive_, stream_, exec_args_, "oneDNN execution");
}

void execute(const dnnl::primitive& p, const dnnl::stream& s, const std::vector<dnnl_exec_arg_t>& args, const char* what) {
  dnnl_status_t status = dnnl_primitive_execute(p.get(), s.get(), int(args.size()), args.data());
  if (status != dnnl_success) throw Error(fmt::format("{} failed with status {}", what, int(status)));
}

}  // namespace heed::cpu
