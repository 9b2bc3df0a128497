#pragma once
// heed.Model's state, shared with the applications that take a loaded model.
#include <heed/error.h>
#include <heed/model.h>

#include <optional>
#include <string>

#include "bindings/python/src/bindings.h"

namespace heed::python {

struct PyModel {
  std::optional<Model> model;  // empty once closed
  std::string path;
  int threads = 0;

  PyModel(nb::handle path_like, const std::string& device, int threads_, std::optional<std::string> precision,
          bool capture_attention, std::optional<std::string> weights, bool optimize)
      : path(path_string(path_like)), threads(threads_) {
    LoadOptions o;
    o.weights = weights ? *weights : "";
    o.capture_attention = capture_attention;
    o.optimize = optimize;
    o.device = device_from_name(device);
    o.precision = precision_from(precision);
    if (threads < 0) throw Error("threads must be >= 0 (0: all cores)");
    nb::gil_scoped_release release;  // loading may take seconds: other Python threads go on
    model = Model::load(path, o);
  }

  const Model& get() const {
    if (!model) throw Error("model '" + path + "' is closed");
    return *model;
  }
};

}  // namespace heed::python
