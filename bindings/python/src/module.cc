// heed._heed: the extension module under the `heed` package (docs/python.md).
#include <heed/error.h>

#include "bindings/python/src/bindings.h"

NB_MODULE(_heed, m) {
  using namespace heed::python;
  m.doc() = "heed's C++ engine; import heed, not this module.";
  m.attr("__version__") = HEED_VERSION;
  nb::exception<heed::Error> error(m, "Error", PyExc_RuntimeError);
  error.attr("__module__") = "heed";
  bind_profile(m);
  bind_model(m);
  bind_generation(m);
  bind_translator(m);
  bind_vision(m);
  bind_attention(m);
}
