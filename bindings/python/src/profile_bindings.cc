// heed.Profile: per-node timings as rows, the text table and the Chrome trace.
#include <heed/profile.h>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/python/src/bindings.h"

namespace heed::python {

void bind_profile(nb::module_& m) {
  nb::class_<NodeTiming>(m, "ProfileRow", "One node (and shape signature): its op, shapes, calls and time.")
      .def_ro("node", &NodeTiming::node)
      .def_ro("op", &NodeTiming::op)
      .def_ro("input_shapes", &NodeTiming::input_shapes)
      .def_ro("output_shapes", &NodeTiming::output_shapes)
      .def_ro("calls", &NodeTiming::calls)
      .def_ro("total_us", &NodeTiming::total_us)
      .def_prop_ro("mean_us", &NodeTiming::mean_us)
      .def("__repr__", [](const NodeTiming& t) {
        return "ProfileRow(node='" + t.node + "', op='" + t.op + "', calls=" + std::to_string(t.calls) +
               ", total_us=" + std::to_string(t.total_us) + ")";
      });

  nb::class_<Profile>(m, "Profile", "Per-node timings of a session's runs (rows in graph order).")
      .def_ro("rows", &Profile::nodes)
      .def_ro("runs", &Profile::runs)
      .def_ro("run_total_us", &Profile::run_total_us, "Wall time of whole runs, overhead included.")
      .def("table", &Profile::table, "Nodes sorted by total time, then totals per op type, as text.")
      .def("to_chrome_trace", [](const Profile& p, nb::handle path) { p.write_chrome_trace(path_string(path)); },
           nb::arg("path"), nb::sig("def to_chrome_trace(self, path: str | os.PathLike) -> None"), "Writes Chrome trace-event JSON (open in Perfetto or chrome://tracing).")
      .def("__len__", [](const Profile& p) { return p.nodes.size(); })
      .def("__getitem__", [](const Profile& p, size_t i) {
        if (i >= p.nodes.size()) throw nb::index_error();
        return p.nodes[i];
      })
      .def("__str__", &Profile::table)
      .def("__repr__", [](const Profile& p) {
        return "<heed.Profile " + std::to_string(p.nodes.size()) + " rows, " + std::to_string(p.runs) + " runs>";
      });
}

}  // namespace heed::python
