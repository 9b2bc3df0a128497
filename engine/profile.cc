#include <heed/error.h>
#include <heed/profile.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/file_io.h"

namespace heed {

std::string Profile::table() const {
  std::vector<const NodeTiming*> rows;
  double total = 0;
  for (const NodeTiming& n : nodes) {
    rows.push_back(&n);
    total += n.total_us;
  }
  std::stable_sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->total_us > b->total_us; });
  auto pct = [&](double us) { return total > 0 ? 100.0 * us / total : 0.0; };
  std::string s = fmt::format("{:<24} {:<12} {:>6} {:>11} {:>10} {:>6}  {}\n", "node", "op", "calls",
                              "total ms", "mean us", "%", "input shapes -> output shapes");
  for (const NodeTiming* n : rows)
    s += fmt::format("{:<24} {:<12} {:>6} {:>11.3f} {:>10.2f} {:>6.1f}  {} -> {}\n", n->node, n->op,
                     n->calls, n->total_us / 1000, n->mean_us(), pct(n->total_us), n->input_shapes,
                     n->output_shapes);
  std::map<std::string, std::pair<int64_t, double>> by_op;
  for (const NodeTiming& n : nodes) {
    by_op[n.op].first += n.calls;
    by_op[n.op].second += n.total_us;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> ops(by_op.begin(), by_op.end());
  std::stable_sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second.second > b.second.second; });
  s += fmt::format("\n{:<24} {:>6} {:>11} {:>6}\n", "op type", "calls", "total ms", "%");
  for (const auto& [op, v] : ops)
    s += fmt::format("{:<24} {:>6} {:>11.3f} {:>6.1f}\n", op, v.first, v.second / 1000, pct(v.second));
  s += fmt::format("\nruns: {}, kernels {:.3f} ms", runs, total / 1000);
  if (runs) s += fmt::format(", whole runs {:.3f} ms ({:.1f} us/run outside kernels)", run_total_us / 1000,
                             (run_total_us - total) / double(runs));
  return s + "\n";
}

void Profile::write_chrome_trace(const std::string& path) const {
  nlohmann::json trace = nlohmann::json::array();
  for (const TraceEvent& e : events) {
    const NodeTiming& n = nodes.at(e.node_index);
    trace.push_back({{"name", n.node}, {"cat", n.op}, {"ph", "X"}, {"ts", e.start_us},
                      {"dur", e.duration_us}, {"pid", 1}, {"tid", 1},
                      {"args", {{"op_name", n.op}, {"input_shapes", n.input_shapes},
                                {"output_shapes", n.output_shapes}}}});
  }
  write_file_atomically(path, nlohmann::json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump(1) + "\n");
}

}  // namespace heed
