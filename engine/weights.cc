#include "engine/weights.h"

#include <heed/error.h>

#include <fmt/format.h>

#include "engine/half.h"
#include "engine/mapped_file.h"

namespace heed {

Tensor widen_to_f32(const Tensor& t) {
  if (t.dtype() != DType::f16 && t.dtype() != DType::bf16) return t;
  Tensor out = Tensor::empty(DType::f32, t.shape());
  const uint16_t* src = t.data_as<uint16_t>();
  float* dst = out.data_as<float>();
  bool half = t.dtype() == DType::f16;
  for (int64_t i = 0; i < t.numel(); ++i) dst[i] = half ? f16_to_f32(src[i]) : bf16_to_f32(src[i]);
  return out;
}

void WeightStore::add_file(const SafetensorsFile& file) {
  std::set<std::string> scales;
  std::map<std::string, StoredWeight> stored = read_stored_weights(file, &scales);
  if (!stored.empty()) {
    const Precision p = stored.begin()->second.precision;
    if (stored_precision_ && *stored_precision_ != p)
      throw Error(fmt::format("{}: weights stored in {}, beside weights stored in {}", file.path, precision_name(p),
                              precision_name(*stored_precision_)));
    stored_precision_ = p;
  }
  for (const auto& [name, t] : file.tensors) {
    if (tensors_.count(name))
      throw Error(fmt::format("{}: tensor '{}' is already defined by {}", file.path, name, describe_sources()));
    if (auto it = stored.find(name); it != stored.end()) {
      tensors_[name] = Tensor::view(DType::f32, t.shape(), nullptr);
      stored_[name] = std::move(it->second);
    } else if (t.dtype() == DType::i8 && !scales.count(name)) {
      throw Error(fmt::format("{}: tensor '{}' is i8, which only a stored int8 weight may be (listed in "
                              "__metadata__[\"{}\"] with its scales)", file.path, name, kQuantizedKey));
    } else if (!scales.count(name)) {
      tensors_[name] = widen_to_f32(t);
    }
  }
  sources_.push_back(file.path);
  if (file.mapping) mappings_.push_back(file.mapping);
}

bool WeightStore::add(const std::string& name, Tensor t) {
  return tensors_.emplace(name, widen_to_f32(t)).second;
}

// Drops a tensor's data; a view into a mapped file also gives back the pages it
// had faulted in (packing a weight reads all of it), so that loading does not
// hold every weight's file pages until release_mapped_pages at the end.
void WeightStore::drop(Tensor& t) const {
  release_pages(&t);
  t = Tensor::view(t.dtype(), t.shape(), nullptr);
}

void WeightStore::release_pages(const Tensor* t) const {
  if (t->data()) MappedFile::release_file_pages(t->data(), t->nbytes());
}

void WeightStore::free_all_but(const std::set<const Tensor*>& kept) {
  for (auto& [name, t] : tensors_)
    if (!kept.count(&t)) drop(t);
}

void WeightStore::free(const Tensor* t) {
  for (auto& [name, held] : tensors_)
    if (&held == t) drop(held);
}

const StoredWeight* WeightStore::stored(const std::string& name) const {
  auto it = stored_.find(name);
  return it == stored_.end() ? nullptr : &it->second;
}

void WeightStore::materialize(const std::string& name) {
  auto it = stored_.find(name);
  Tensor& t = tensors_.at(name);
  if (it == stored_.end() || t.data() || t.numel() == 0) return;
  Tensor values = mapped_tensor(DType::f32, t.shape());  // not the heap: freed once packed (mapped_file.h)
  f32_values(it->second, values.data_as<float>());
  t = std::move(values);
}

void WeightStore::store(const std::string& name, StoredWeight w) {
  drop(tensors_.at(name));
  stored_[name] = std::move(w);
}

void WeightStore::materialize_all() {
  for (const auto& [name, w] : stored_) materialize(name);
}

void WeightStore::release_mapped_pages() const {
  for (const auto& m : mappings_) m->release_resident_pages();
}

const Tensor* WeightStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::string WeightStore::describe_sources() const {
  return sources_.empty() ? std::string("the model") : fmt::format("{}", fmt::join(sources_, ", "));
}

}  // namespace heed
