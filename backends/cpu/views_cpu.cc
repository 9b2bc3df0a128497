// Reshape, Squeeze, Unsqueeze, Flatten: the planner makes the output alias the input, so
// there is nothing to do, except when the output is a graph output with its own
// buffer: then the bytes are copied.
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {

void register_view_kernels() {
  for (const char* op : {"Reshape", "Squeeze", "Unsqueeze", "Flatten"})
    register_kernel(op, [](const KernelInit&) {
      return kernel([](const NodeShapes& s) {
        size_t bytes = s.out[0].nbytes();
        return invocation([bytes](const Buffers& io) {
          if (io.out(0) != io.in(0) && bytes) std::memcpy(io.out(0), io.in(0), bytes);
        });
      });
    });
}

}  // namespace heed::cpu
