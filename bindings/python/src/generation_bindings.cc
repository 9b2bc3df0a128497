// heed._heed.GenerationOptions, Generation and Generator (token ids in and out;
// heed.Generator wraps it with CTranslate2's keyword arguments).
#include <heed/error.h>
#include <heed/generate.h>

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/python/src/bindings.h"
#include "bindings/python/src/locked.h"
#include "bindings/python/src/py_model.h"

namespace heed::python {
namespace {

using PyGenerator = Locked<Generator>;

}  // namespace

void bind_generation(nb::module_& m) {
  using O = GenerationOptions;
  nb::class_<O>(m, "GenerationOptions", "How to generate (heed::GenerationOptions).")
      .def(nb::init<>())
      .def_rw("beam_size", &O::beam_size)
      .def_rw("num_hypotheses", &O::num_hypotheses)
      .def_rw("length_penalty", &O::length_penalty)
      .def_rw("max_new_tokens", &O::max_new_tokens)
      .def_rw("min_new_tokens", &O::min_new_tokens)
      .def_rw("return_attention", &O::return_attention)
      .def_rw("bad_words_ids", &O::bad_words_ids)
      .def_rw("repetition_penalty", &O::repetition_penalty)
      .def_rw("no_repeat_ngram_size", &O::no_repeat_ngram_size);

  nb::class_<Generation>(m, "Generation")
      .def_ro("tokens", &Generation::tokens)
      .def_ro("score", &Generation::score)
      .def_ro("attention", &Generation::attention);

  nb::class_<PyGenerator>(m, "Generator")
      .def("__init__",
           [](PyGenerator* g, const PyModel& model, int threads, bool profile) {
             new (g) PyGenerator{std::make_unique<Generator>(model.get(), threads ? threads : model.threads, profile)};
           },
           nb::arg("model"), nb::arg("threads") = 0, nb::arg("profile") = false)
      .def("default_options", [](PyGenerator& g) { return g.object->default_options(); })
      .def("generate_n_best",
           [](PyGenerator& g, const std::vector<std::vector<int64_t>>& sources, const O& o, int max_batch_size) {
             if (max_batch_size < 1) throw Error("max_batch_size must be >= 1");
             return g.call([&](Generator& gen) { return gen.generate_batched(sources, o, max_batch_size); });
           },
           nb::arg("sources"), nb::arg("options"), nb::arg("max_batch_size") = 32)
      .def("generate_n_best_from_tensors",
           [](PyGenerator& g, nb::handle inputs, const O& o) {
             std::vector<nb::object> keep;
             TensorMap in = tensors_from_mapping(inputs, {}, keep);
             return g.call([&](Generator& gen) { return gen.generate_n_best(in, o); });
           },
           nb::arg("encoder_inputs"), nb::arg("options"))
      .def("profile", [](PyGenerator& g) { return g.call([](Generator& gen) { return gen.profile(); }); });
}

}  // namespace heed::python
