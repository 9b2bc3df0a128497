// Host-memory defaults of the backend contract, and the CUDA backend's entry
// point when this build has none.
#include "engine/backend.h"

#include <heed/error.h>

#include <cstdlib>
#include <cstring>
#include <memory>

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
void Backend::fill_zero(void* dst, size_t bytes) const { std::memset(dst, 0, bytes); }

void Backend::copy_blocks(const std::vector<CopyBlock>& blocks) const {
  const int64_t n = int64_t(blocks.size());
#pragma omp parallel for if (n > 16)
  for (int64_t i = 0; i < n; ++i) std::memcpy(blocks[size_t(i)].dst, blocks[size_t(i)].src, blocks[size_t(i)].bytes);
}

const Backend& backend_for(Device device) { return device == Device::cpu ? cpu_backend() : cuda_backend(); }

Tensor new_tensor(const Backend& backend, DType dtype, const Shape& shape) {
  if (backend.device() == Device::cpu) return Tensor::zeros(dtype, shape);
  const size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  void* p = backend.allocate(bytes ? bytes : 1);
  std::shared_ptr<void> owner(p, [&backend](void* q) { backend.deallocate(q); });
  backend.fill_zero(p, bytes);
  return Tensor::on_device(backend.device(), dtype, shape, p, std::move(owner));
}

#ifndef HEED_HAS_CUDA
const Backend& cuda_backend() {
  throw Error("device 'cuda' is not available: this build of heed has no CUDA backend (configure with -DHEED_CUDA=ON "
              "where the CUDA toolkit is installed)");
}
#endif

}  // namespace heed
