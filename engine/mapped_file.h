#pragma once
// A private (copy-on-write) memory mapping of a regular file, kept alive by
// shared_ptr by every tensor viewing it. Writes stay in this process.
#include <cstddef>
#include <memory>
#include <string>

#include <heed/tensor.h>

namespace heed {

// An uninitialized tensor in memory mapped for it alone, returned to the system
// when the last view of it goes. For large copies made at load and dropped once
// a kernel has packed them: on the heap, freeing them between the packed
// weights fragments it (GPT-2 small's fused projections kept 100 MB more).
Tensor mapped_tensor(DType dtype, const Shape& shape);

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);  // throws heed::Error
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  // Drops the pages read so far from this process's resident memory; a later
  // read faults them back in from the file (the mapping is private and never
  // written, so nothing is lost). Called once a model has packed its weights.
  void release_resident_pages() const;
  // The same for the pages wholly inside [p, p + bytes), a range of this mapping
  // (a tensor's bytes once copied elsewhere).
  static void release_pages_within(const void* p, size_t bytes);
  // The same where [p, p + bytes) lies in a mapped file (any MappedFile alive);
  // nothing otherwise (memory of the process's own would lose its contents).
  static void release_file_pages(const void* p, size_t bytes);

 private:
  MappedFile() = default;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace heed
