// heed._heed.AttentionFigure, attention_figures and attention_html (heed/attention.h).
#include <heed/attention.h>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/python/src/bindings.h"

namespace heed::python {

void bind_attention(nb::module_& m) {
  using F = AttentionFigure;
  nb::class_<F>(m, "AttentionFigure", "One map: rows x cols weights with labels, or rows drawn over an image.")
      .def(nb::init<>())
      .def_rw("title", &F::title)
      .def_rw("rows", &F::rows)
      .def_rw("cols", &F::cols)
      .def_rw("weights", &F::weights)
      .def_rw("row_labels", &F::row_labels)
      .def_rw("col_labels", &F::col_labels)
      .def_rw("image", &F::image)
      .def_rw("grid_height", &F::grid_height)
      .def_rw("grid_width", &F::grid_width);
  m.def("attention_figures",
        [](const std::string& name, nb::handle weights, const std::vector<std::string>& target_tokens,
           const std::vector<std::string>& source_tokens) {
          std::vector<nb::object> keep;
          return attention_figures(name, tensor_from_object(weights, name, DType::f32, keep), target_tokens,
                                   source_tokens);
        },
        nb::arg("name"), nb::arg("weights"), nb::arg("target_tokens") = std::vector<std::string>{},
        nb::arg("source_tokens") = std::vector<std::string>{});
  m.def("attention_html", [](const std::string& title, const std::vector<F>& figures) {
    nb::gil_scoped_release release;
    return attention_html(title, figures);
  }, nb::arg("title"), nb::arg("figures"));
}

}  // namespace heed::python
