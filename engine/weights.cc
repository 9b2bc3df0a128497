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
  for (const auto& [name, t] : file.tensors) {
    if (tensors_.count(name))
      throw Error(fmt::format("{}: tensor '{}' is already defined by {}", file.path, name, describe_sources()));
    tensors_[name] = widen_to_f32(t);
  }
  sources_.push_back(file.path);
  if (file.mapping) mappings_.push_back(file.mapping);
}

bool WeightStore::add(const std::string& name, Tensor t) {
  return tensors_.emplace(name, widen_to_f32(t)).second;
}

void WeightStore::free_all_but(const std::set<const Tensor*>& kept) {
  for (auto& [name, t] : tensors_)
    if (!kept.count(&t)) t = Tensor::view(t.dtype(), t.shape(), nullptr);
}

void WeightStore::free(const Tensor* t) {
  for (auto& [name, held] : tensors_)
    if (&held == t) held = Tensor::view(held.dtype(), held.shape(), nullptr);
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
