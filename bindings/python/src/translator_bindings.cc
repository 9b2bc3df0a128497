// heed._heed.Translator and Translation (heed.Translator wraps them with
// CTranslate2's translate_batch).
#include <heed/translate.h>

#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/python/src/bindings.h"
#include "bindings/python/src/locked.h"
#include "bindings/python/src/py_model.h"

namespace heed::python {
namespace {

using PyTranslator = Locked<Translator>;

}  // namespace

void bind_translator(nb::module_& m) {
  nb::class_<Translation>(m, "Translation")
      .def_ro("text", &Translation::text)
      .def_ro("score", &Translation::score)
      .def_ro("truncated", &Translation::truncated)
      .def_ro("source_pieces", &Translation::source_pieces)
      .def_ro("target_pieces", &Translation::target_pieces)
      .def_ro("attention", &Translation::attention);

  nb::class_<PyTranslator> translator(m, "Translator");
  def_app_init<Translator, TranslatorOptions>(translator, 32);
  translator
      .def("default_options", [](PyTranslator& t) { return t.object->generator().default_options(); })
      .def("translate_n_best",
           [](PyTranslator& t, const std::vector<std::string>& lines, const GenerationOptions& o) {
             return t.call([&](Translator& tr) { return tr.translate_n_best(lines, o); });
           },
           nb::arg("lines"), nb::arg("options"))
      .def("encode", [](const PyTranslator& t, const std::string& text) { return t.object->encode(text); }, nb::arg("text"))
      .def("decode", [](const PyTranslator& t, const std::vector<int64_t>& ids) { return t.object->decode(ids); },
           nb::arg("ids"))
      .def("profile", [](PyTranslator& t) { return t.call([](Translator& tr) { return tr.profile(); }); });
}

}  // namespace heed::python
