#include "engine/mapped_file.h"

#include <heed/error.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/file_io.h"

namespace heed {
namespace {

// The live file mappings, so that a range can be told to be a file's (whose
// pages may be dropped and read again) rather than memory of its own.
std::mutex mappings_mutex;
std::vector<const MappedFile*> live_mappings;

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = open_regular_file(path);
  struct stat st {};
  fstat(fd, &st);
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->size_ = size_t(st.st_size);
  if (file->size_ > 0) {
    // Writable but private (copy-on-write): a graph input that a node updates in
    // place, such as a KV cache read from an inputs file, is written in this
    // process's copy of the page, never in the file.
    void* p = mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error(fmt::format("{}: cannot map: {}", path, std::strerror(errno)));
    }
    file->data_ = static_cast<const unsigned char*>(p);
  }
  ::close(fd);
  if (file->data_) {
    std::lock_guard lock(mappings_mutex);
    live_mappings.push_back(file.get());
  }
  return file;
}

void MappedFile::release_file_pages(const void* p, size_t bytes) {
  const auto* at = static_cast<const unsigned char*>(p);
  std::lock_guard lock(mappings_mutex);
  for (const MappedFile* m : live_mappings)
    if (at >= m->data_ && at + bytes <= m->data_ + m->size_) return release_pages_within(p, bytes);
}

void MappedFile::release_resident_pages() const {
  if (data_) madvise(const_cast<unsigned char*>(data_), size_, MADV_DONTNEED);
}

void MappedFile::release_pages_within(const void* p, size_t bytes) {
  static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Tensor mapped_tensor(DType dtype, const Shape& shape) {
  const size_t bytes = std::max<size_t>(size_t(shape.numel()) * dtype_size(dtype), 1);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Error(fmt::format("out of memory mapping {} bytes for a {} tensor {}", bytes,
                                               dtype_name(dtype), shape.str()));
  auto owner = std::shared_ptr<const void>(p, [bytes](const void* q) { munmap(const_cast<void*>(q), bytes); });
  return Tensor::view(dtype, shape, p, std::move(owner));
}

MappedFile::~MappedFile() {
  if (!data_) return;
  {
    std::lock_guard lock(mappings_mutex);
    std::erase(live_mappings, this);
  }
  munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace heed
