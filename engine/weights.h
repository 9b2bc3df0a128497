#pragma once
// The tensors every graph of a model reads by name. f16/bf16 weights are widened
// to f32 at load, since the CPU kernels compute in f32.
#include <heed/tensor.h>

#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/stored_weight.h"

namespace heed {

class WeightStore {
 public:
  void add_file(const SafetensorsFile& file);
  // One tensor an importer made (an ONNX initializer, a transposed weight);
  // `source` names where it came from in errors. Returns false if the name is taken.
  bool add(const std::string& name, Tensor t);
  void add_source(const std::string& source) { sources_.push_back(source); }
  // A file the added tensors view (release_mapped_pages drops its pages too).
  void add_mapping(std::shared_ptr<const MappedFile> mapping) { mappings_.push_back(std::move(mapping)); }
  const Tensor* find(const std::string& name) const;
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  const std::vector<std::string>& sources() const { return sources_; }
  std::string describe_sources() const;
  // After the kernels have packed what they need: the mapped files' pages leave
  // resident memory (the weights read again later fault back in).
  void release_mapped_pages() const;
  // Frees the data of every tensor not in `kept` (which the compiled graphs read
  // at run time); a freed one keeps its dtype and shape, with no data.
  void free_all_but(const std::set<const Tensor*>& kept);
  void free(const Tensor* t);  // the same for one tensor of this store
  // The pages of a tensor that views a mapped file leave resident memory (a
  // kernel packed it; a reader of the rest faults back in what it reads).
  void release_pages(const Tensor* t) const;

  // A quantized file's weights (engine/stored_weight.h) stay in their stored
  // form: find() gives each its f32 dtype and shape, and its values once
  // materialize() has made them (kernels in another precision, other readers).
  const StoredWeight* stored(const std::string& name) const;
  std::optional<Precision> stored_precision() const { return stored_precision_; }
  size_t stored_count() const { return stored_.size(); }
  void materialize(const std::string& name);
  void materialize_all();
  // Keeps fp32 weight `name` in a stored form from now on (engine/projection_weights.h):
  // its f32 data goes (and its file pages), as a quantized file's would never come.
  void store(const std::string& name, StoredWeight w);

 private:
  void drop(Tensor& t) const;

  std::map<std::string, Tensor> tensors_;
  std::map<std::string, StoredWeight> stored_;
  std::optional<Precision> stored_precision_;
  std::vector<std::string> sources_;
  std::vector<std::shared_ptr<const MappedFile>> mappings_;
};

Tensor widen_to_f32(const Tensor& t);  // f16/bf16 -> f32 copy; other dtypes as they are

}  // namespace heed
