// heed.Model, heed.Session and heed.ValueInfo.
#include <heed/error.h>

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <mutex>

#include "bindings/python/src/bindings.h"
#include "bindings/python/src/py_model.h"

namespace heed::python {
namespace {

// A session and what run() needs to convert its inputs. One Python thread runs
// it at a time (the mutex); other sessions run in parallel, the GIL released.
struct PySession {
  Session session;
  std::string graph;
  std::vector<ValueInfo> inputs, outputs;
  std::mutex mutex;

  PySession(const Model& model, const SessionOptions& options)
      : session(model, options), graph(options.graph), inputs(model.inputs(options.graph)),
        outputs(model.outputs(options.graph)) {}
};

nb::object value_shape(const ValueInfo& v) {
  nb::list dims;
  for (const std::string& d : v.dims) {
    bool numeric = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
    dims.append(numeric ? nb::object(nb::int_(std::stoll(d))) : nb::object(nb::str(d.c_str())));
  }
  return std::move(dims);
}

std::string value_repr(const ValueInfo& v) {
  std::string dims;
  for (const std::string& d : v.dims) dims += (dims.empty() ? "" : ", ") + d;
  return "ValueInfo('" + v.name + "', " + std::string(dtype_name(v.dtype)) + " [" + dims + "])";
}

bool points_into(const Tensor& out, const std::vector<std::pair<const char*, const char*>>& views) {
  const char* p = static_cast<const char*>(out.data());
  for (const auto& [begin, end] : views)
    if (p >= begin && p < end) return true;
  return false;
}

// Caller-owned outputs: writable C-contiguous arrays heed writes in place.
TensorMap given_outputs(nb::handle outputs, std::vector<nb::object>& keep) {
  TensorMap out;
  if (outputs.is_none()) return out;
  for (auto [key, value] : as_dict(outputs, "outputs")) {
    std::string name = nb::cast<std::string>(key);
    nb::ndarray<> a;
    if (!nb::try_cast(value, a, false))
      throw Error("output '" + name + "': give a writable array to write into (" +
                  std::string(nb::type_name(value.type()).c_str()) + " is not one)");
    Tensor t = tensor_from_object(value, name, DType::f32, keep);
    if (t.data() != a.data() && t.numel() > 0)
      throw Error("output '" + name + "': the array is not C-contiguous, so heed cannot write into it");
    out[name] = t;
  }
  return out;
}

nb::dict run_session(PySession& s, nb::handle inputs, nb::handle outputs) {
  std::vector<nb::object> keep;
  TensorMap in = tensors_from_mapping(inputs, s.inputs, keep);
  std::vector<std::pair<const char*, const char*>> views;
  for (const auto& [name, t] : in) {
    const char* p = static_cast<const char*>(t.data());
    views.emplace_back(p, p + t.nbytes());
  }
  TensorMap out = given_outputs(outputs, keep);
  std::map<std::string, const void*> given;
  for (const auto& [name, t] : out) given[name] = t.data();
  {
    nb::gil_scoped_release release;
    std::lock_guard lock(s.mutex);
    s.session.run(in, out);
  }
  nb::dict result;
  nb::dict caller = outputs.is_none() ? nb::dict() : as_dict(outputs, "outputs");
  for (auto& [name, t] : out) {
    auto g = given.find(name);
    if (g != given.end()) {
      if (t.data() != g->second && t.numel() > 0)
        throw Error("output '" + name + "': the array given is not " + std::string(dtype_name(t.dtype())) + " " +
                    t.shape().str() + ", the output's type here");
      result[name.c_str()] = caller[name.c_str()];
    } else {
      // An output that is an input passed through would point into the caller's array: copy it.
      if (points_into(t, views)) t = Tensor::copy_of(t.dtype(), t.shape(), t.data());
      result[name.c_str()] = array_from_tensor(std::move(t));
    }
  }
  return result;
}

// For bench/python_overhead.py: the C++ call alone on the same session and
// inputs, `iters` runs per repeat, the mean microseconds of each repeat.
std::vector<double> cpp_run_us(PySession& s, nb::handle inputs, int repeats, int iters) {
  std::vector<nb::object> keep;
  TensorMap in = tensors_from_mapping(inputs, s.inputs, keep), out;
  std::vector<double> means;
  nb::gil_scoped_release release;
  std::lock_guard lock(s.mutex);
  for (int r = 0; r < repeats; ++r) {
    auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) out = s.session.run(in);
    std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - begin;
    means.push_back(took.count() / iters);
  }
  return means;
}

std::string model_repr(const PyModel& m) {
  if (!m.model) return "<heed.Model '" + m.path + "' (closed)>";
  std::string graphs;
  for (const std::string& g : m.model->graph_names()) graphs += (graphs.empty() ? "" : ", ") + g;
  return "<heed.Model '" + m.path + "': graphs " + graphs + ">";
}

}  // namespace

void bind_model(nb::module_& m) {
  // For the tests' proof of reading in place: the address run() would read `object` at.
  m.def("_input_address", [](nb::handle object, const std::string& dtype) {
    std::vector<nb::object> keep;
    return uintptr_t(tensor_from_object(object, "x", dtype_from_name(dtype), keep).data());
  });
  nb::class_<ValueInfo>(m, "ValueInfo", "A graph input or output: its name, dtype and dims (ints, or symbols such as 'batch').")
      .def_ro("name", &ValueInfo::name)
      .def_prop_ro("dtype", [](const ValueInfo& v) { return std::string(dtype_name(v.dtype)); },
                   "heed's dtype name: 'f32', 'f16', 'bf16', 'i32', 'i64', 'u8', 'bool' or 'i8'.")
      .def_prop_ro("shape", &value_shape, "The dims: an int where fixed, a str where symbolic.")
      .def("__repr__", &value_repr);

  nb::class_<PySession>(m, "Session",
                        "Runs one graph of a model. Create with Model.session(); one per thread for parallel runs.")
      .def("run", &run_session, nb::arg("inputs"), nb::arg("outputs") = nb::none(),
           nb::sig("def run(self, inputs: collections.abc.Mapping[str, object], outputs: "
                   "collections.abc.Mapping[str, numpy.ndarray] | None = None) -> dict[str, numpy.ndarray]"),
           "Runs the graph on `inputs` (name -> NumPy array, PyTorch CPU tensor, anything with DLPack or the\n"
           "buffer protocol, or a list) and returns {name: numpy.ndarray}. A C-contiguous array of the\n"
           "input's dtype is read in place; others are copied. `outputs` (name -> writable C-contiguous\n"
           "array of the output's dtype and shape) are written in place and returned as given. The GIL\n"
           "is released while heed runs.")
      .def_prop_ro("graph", [](const PySession& s) { return s.graph; })
      .def_prop_ro("inputs", [](const PySession& s) { return s.inputs; })
      .def_prop_ro("outputs", [](const PySession& s) { return s.outputs; })
      .def("profile", [](const PySession& s) { return s.session.profile(); },
           "Per-node timings since the session started or reset_profile() (a session made with profile=True).")
      .def("reset_profile", [](PySession& s) { s.session.reset_profile(); })
      .def("_cpp_run_us", &cpp_run_us, nb::arg("inputs"), nb::arg("repeats"), nb::arg("iters"))
      .def("__repr__", [](const PySession& s) { return "<heed.Session graph '" + s.graph + "'>"; });

  nb::class_<PyModel>(m, "Model",
                      "A loaded model: a graph JSON, a heed .safetensors file, an .onnx file, or a checkpoint\n"
                      "directory (Marian, heed LSTM seq2seq, Show-Attend-Tell, pytorch-vqa). Immutable;\n"
                      "sessions made from it may run in parallel threads.")
      .def(nb::init<nb::handle, const std::string&, int, std::optional<std::string>, bool, std::optional<std::string>,
                    bool>(),
           nb::arg("path"), nb::arg("device") = "cpu", nb::arg("threads") = 0, nb::arg("precision") = nb::none(),
           nb::arg("capture_attention") = false, nb::arg("weights") = nb::none(), nb::arg("optimize") = true,
           nb::sig("def __init__(self, path: str | os.PathLike, device: str = 'cpu', threads: int = 0, precision: "
                   "str | None = None, capture_attention: bool = False, weights: str | None = None, "
                   "optimize: bool = True) -> None"),
           "Loads `path`. device: 'cpu' or 'cuda'. threads: per session (0: all cores). precision: 'f32',\n"
           "'bf16' or 'int8' (None: as a quantized file stores it, else f32). capture_attention: every\n"
           "attention node also outputs its weights as 'attention/<node>'. weights: the .safetensors of\n"
           "a graph JSON (default: its \"weights\" entry). optimize: fold BatchNorm and fuse at load.")
      .def_prop_ro("path", [](const PyModel& m) { return m.path; })
      .def_prop_ro("graphs", [](const PyModel& m) { return m.get().graph_names(); })
      .def_prop_ro("inputs", [](const PyModel& m) { return m.get().inputs(); },
                   "The inputs of the model's only graph (or 'main'); inputs_of(graph) for another.")
      .def_prop_ro("outputs", [](const PyModel& m) { return m.get().outputs(); })
      .def("inputs_of", [](const PyModel& m, const std::string& g) { return m.get().inputs(g); }, nb::arg("graph"))
      .def("outputs_of", [](const PyModel& m, const std::string& g) { return m.get().outputs(g); }, nb::arg("graph"))
      .def_prop_ro("metadata", [](const PyModel& m) { return m.get().metadata(); },
                   "What an importer recorded about the model ('architecture', token ids, ...).")
      .def("describe", [](const PyModel& m) { return m.get().describe(); },
           "Every graph with its nodes and inferred shapes (what `heed inspect` prints).")
      .def("__str__", [](const PyModel& m) { return m.get().describe(); })
      .def("__repr__", &model_repr)
      .def("session",
           [](const PyModel& m, std::optional<std::string> graph, std::optional<int> threads, bool profile) {
             SessionOptions o{graph.value_or(""), threads.value_or(m.threads), profile};
             return new PySession(m.get(), o);
           },
           nb::arg("graph") = nb::none(), nb::arg("threads") = nb::none(), nb::arg("profile") = false,
           "A session running `graph` (default: the only graph, or 'main') with `threads` (default: the\n"
           "model's). profile=True collects per-node timings, read with Session.profile().")
      .def("close", [](PyModel& m) { m.model.reset(); },
           "Releases the model (sessions made from it keep what they need). Later calls raise heed.Error.")
      .def("__enter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__exit__", [](PyModel& m, nb::args) { m.model.reset(); });
}

}  // namespace heed::python
