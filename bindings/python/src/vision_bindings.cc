// heed._heed.Captioner and QuestionAnswerer with their results (heed.Captioner
// and heed.QuestionAnswerer wrap them).
#include <heed/caption.h>
#include <heed/vqa.h>

#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings/python/src/bindings.h"
#include "bindings/python/src/locked.h"
#include "bindings/python/src/py_model.h"

namespace heed::python {
namespace {

using PyCaptioner = Locked<Captioner>;
using PyAnswerer = Locked<QuestionAnswerer>;

void bind_captioner(nb::module_& m) {
  nb::class_<Caption>(m, "Caption")
      .def_ro("text", &Caption::text)
      .def_ro("words", &Caption::words)
      .def_ro("score", &Caption::score)
      .def_ro("attention", &Caption::attention)
      .def_ro("grid_height", &Caption::grid_height)
      .def_ro("grid_width", &Caption::grid_width);

  nb::class_<PyCaptioner> captioner(m, "Captioner");
  def_app_init<Captioner, CaptionerOptions>(captioner, 8);
  captioner
      .def("caption_n_best",
           [](PyCaptioner& c, const std::vector<std::string>& paths, const GenerationOptions& o) {
             return c.call([&](Captioner& cap) { return cap.caption_n_best(paths, o); });
           },
           nb::arg("image_paths"), nb::arg("options"))
      .def("caption_features_n_best",
           [](PyCaptioner& c, nb::handle features, const GenerationOptions& o) {
             std::vector<nb::object> keep;
             Tensor f = tensor_from_object(features, "features", DType::f32, keep);
             return c.call([&](Captioner& cap) { return cap.caption_features_n_best(f, o); });
           },
           nb::arg("features"), nb::arg("options"))
      .def("image_tensor", [](const PyCaptioner& c, const std::string& path) {
        return array_from_tensor(c.object->image_tensor(path));
      }, nb::arg("image_path"), nb::sig("def image_tensor(self, image_path: str) -> numpy.ndarray"))
      .def_prop_ro("max_caption_length", [](const PyCaptioner& c) { return c.object->max_caption_length(); })
      .def("profile", [](PyCaptioner& c) { return c.call([](Captioner& cap) { return cap.profile(); }); });
}

void bind_answerer(nb::module_& m) {
  nb::class_<Answer>(m, "Answer")
      .def_ro("text", &Answer::text)
      .def_ro("probability", &Answer::probability)
      .def("__repr__", [](const Answer& a) { return "Answer('" + a.text + "', " + std::to_string(a.probability) + ")"; });

  nb::class_<VqaResult>(m, "VqaResult")
      .def_ro("answers", &VqaResult::answers)
      .def_ro("tokens", &VqaResult::tokens)
      .def_ro("unknown_words", &VqaResult::unknown_words)
      .def_ro("attention", &VqaResult::attention)
      .def_ro("grid_height", &VqaResult::grid_height)
      .def_ro("grid_width", &VqaResult::grid_width);

  nb::class_<PyAnswerer> answerer(m, "QuestionAnswerer");
  def_app_init<QuestionAnswerer, AnswererOptions>(answerer, 32);
  answerer
      .def("answer",
           [](PyAnswerer& a, const std::vector<std::pair<std::string, std::string>>& pairs, int top_k) {
             std::vector<Question> questions;
             for (const auto& [image, text] : pairs) questions.push_back({image, text});
             return a.call([&](QuestionAnswerer& qa) { return qa.answer(questions, top_k); });
           },
           nb::arg("questions"), nb::arg("top_k") = 5)
      .def("answer_features",
           [](PyAnswerer& a, nb::handle features, const std::vector<std::string>& questions, int top_k) {
             std::vector<nb::object> keep;
             Tensor f = tensor_from_object(features, "features", DType::f32, keep);
             return a.call([&](QuestionAnswerer& qa) { return qa.answer_features(f, questions, top_k); });
           },
           nb::arg("features"), nb::arg("questions"), nb::arg("top_k") = 5)
      .def("encode", [](const PyAnswerer& a, const std::string& question) {
        std::vector<std::string> tokens, unknown;
        std::vector<int64_t> ids = a.object->encode(question, &tokens, &unknown);
        return std::make_tuple(ids, tokens, unknown);
      }, nb::arg("question"))
      .def("image_tensor", [](const PyAnswerer& a, const std::string& path) {
        return array_from_tensor(a.object->image_tensor(path));
      }, nb::arg("image_path"), nb::sig("def image_tensor(self, image_path: str) -> numpy.ndarray"))
      .def("profile", [](PyAnswerer& a) { return a.call([](QuestionAnswerer& qa) { return qa.profile(); }); });
}

}  // namespace

void bind_vision(nb::module_& m) {
  bind_captioner(m);
  bind_answerer(m);
}

}  // namespace heed::python
