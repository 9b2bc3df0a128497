#pragma once
// Shared by the binding files of heed._heed: the conversions between Python
// objects and heed's tensors, options and names.
#include <heed/model.h>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <optional>
#include <string>
#include <vector>

namespace heed::python {

namespace nb = nanobind;
using Array = nb::ndarray<nb::numpy>;

// An input as heed reads it: a view of the object's memory when it is a
// C-contiguous array of a heed dtype (NumPy, PyTorch or anything with DLPack or
// the buffer protocol), else a contiguous copy. Lists and scalars are read
// with NumPy in `expected` dtype. `keep` holds what the view points into.
Tensor tensor_from_object(nb::handle object, const std::string& name, DType expected, std::vector<nb::object>& keep);
// A NumPy array over the tensor's memory (kept alive by the array); bf16 is
// returned as f32, which NumPy has no type for.
nb::object array_from_tensor(Tensor tensor);
// A dict as it is; another mapping through dict() (TypeError for anything else).
nb::dict as_dict(nb::handle mapping, const char* what);
// Inputs by name, each read as tensor_from_object does in the dtype `inputs`
// gives it (f32 for a name not there, which the session then refuses).
TensorMap tensors_from_mapping(nb::handle mapping, const std::vector<ValueInfo>& inputs,
                               std::vector<nb::object>& keep);

Device device_from_name(const std::string& name);
std::optional<Precision> precision_from(const std::optional<std::string>& name);
// The path argument as text (str or os.PathLike).
std::string path_string(nb::handle path);

void bind_model(nb::module_& m);
void bind_profile(nb::module_& m);
void bind_generation(nb::module_& m);
void bind_translator(nb::module_& m);
void bind_vision(nb::module_& m);
void bind_attention(nb::module_& m);

}  // namespace heed::python
