#pragma once
// An application object (Translator, Captioner, ...) shared with Python: calls
// run with the GIL released, one Python thread at a time per object.
#include <memory>
#include <mutex>
#include <utility>

#include "bindings/python/src/bindings.h"
#include "bindings/python/src/py_model.h"

namespace heed::python {

template <typename T>
struct Locked {
  std::unique_ptr<T> object;
  std::mutex mutex;

  // fn(T&) without the GIL, holding the object's lock; its result must own no Python object.
  template <typename Fn>
  auto call(Fn&& fn) {
    nb::gil_scoped_release release;
    std::lock_guard lock(mutex);
    return fn(*object);
  }
};

}  // namespace heed::python

namespace heed::python {

// The options every application takes (TranslatorOptions, CaptionerOptions, AnswererOptions).
template <typename Options>
Options app_options(int threads, bool profile, int batch_size, const std::string& device,
                    std::optional<std::string> precision, nb::object progress) {
  Options o;
  o.threads = threads;
  o.profile = profile;
  o.batch_size = batch_size;
  o.device = device_from_name(device);
  o.precision = precision_from(precision);
  if (!progress.is_none()) {
    // Copied by heed without the GIL: a shared_ptr, whose last owner takes the GIL to release the callable.
    std::shared_ptr<nb::object> callable(new nb::object(progress), [](nb::object* p) {
      nb::gil_scoped_acquire acquire;
      delete p;
    });
    o.progress = [callable](size_t done, size_t total) {
      nb::gil_scoped_acquire acquire;
      (*callable)(done, total);
    };
  }
  return o;
}

// Constructs an application from a directory, or from a loaded heed.Model and its directory.
template <typename App, typename Options>
std::unique_ptr<App> make_app(nb::handle dir, nb::handle model, const Options& o) {
  std::string path = path_string(dir);
  // A copy (a reference count), so that closing the heed.Model meanwhile in another thread is harmless.
  std::optional<Model> loaded;
  if (!model.is_none()) loaded = nb::cast<const PyModel&>(model).get();
  nb::gil_scoped_release release;  // loading takes a while: other Python threads go on
  return loaded ? std::make_unique<App>(*loaded, path, o) : std::make_unique<App>(path, o);
}

// The constructor every application class takes: (model_dir, model=None, threads=0,
// profile=False, batch_size=default_batch, device="cpu", precision=None, progress=None).
template <typename App, typename Options>
void def_app_init(nb::class_<Locked<App>>& cls, int default_batch) {
  cls.def("__init__",
          [](Locked<App>* self, nb::handle dir, nb::handle model, int threads, bool profile, int batch_size,
             const std::string& device, std::optional<std::string> precision, nb::object progress) {
            auto o = app_options<Options>(threads, profile, batch_size, device, precision, progress);
            new (self) Locked<App>{make_app<App>(dir, model, o)};
          },
          nb::arg("model_dir"), nb::arg("model") = nb::none(), nb::arg("threads") = 0, nb::arg("profile") = false,
          nb::arg("batch_size") = default_batch, nb::arg("device") = "cpu", nb::arg("precision") = nb::none(),
          nb::arg("progress") = nb::none());
}

}  // namespace heed::python
