// Host-memory defaults of the backend contract, and the CUDA backend's entry
// point when this build has none.
#include "engine/backend.h"

#include <heed/error.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace heed {

void* Backend::allocate(size_t bytes) const {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw Error(fmt::format("out of memory: {} bytes for the {} backend", bytes, name()));
  return p;
}
void Backend::deallocate(void* p) const { std::free(p); }
void Backend::copy_in(void* dst, const void* host_src, size_t bytes) const { std::memcpy(dst, host_src, bytes); }
void Backend::copy_out(void* host_dst, const void* src, size_t bytes) const { std::memcpy(host_dst, src, bytes); }

#ifndef HEED_HAS_CUDA
const Backend& cuda_backend() {
  throw Error("device 'cuda' is not available: this build of heed has no CUDA backend (configure with -DHEED_CUDA=ON "
              "where the CUDA toolkit is installed)");
}
#endif

}  // namespace heed
