// heed._heed: the extension module under the `heed` package (docs/python.md).
#include <heed/error.h>

#include <malloc.h>

#include <cstdlib>

#include "bindings/python/src/bindings.h"

NB_MODULE(_heed, m) {
  using namespace heed::python;
  // As the heed tool does (tools/main.cc): with glibc's sliding mmap threshold,
  // kernels prepared and freed for ever-new shapes fragment the heap; translating
  // 200 sentences in batches of 32 from Python peaked 140 MB higher without this
  // (docs/benchmarks.md). MALLOC_MMAP_THRESHOLD_ in the environment keeps the caller's choice.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  m.doc() = "heed's C++ engine; import heed, not this module.";
  m.attr("version") = HEED_VERSION;
  nb::exception<heed::Error>(m, "Error", PyExc_RuntimeError);
  bind_profile(m);
  bind_model(m);
  bind_generation(m);
  bind_translator(m);
  bind_vision(m);
  bind_attention(m);
}
