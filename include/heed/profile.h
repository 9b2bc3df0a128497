#pragma once
// Per-node timings collected by a session with profiling on.
#include <heed/export.h>

#include <cstdint>
#include <string>
#include <vector>

namespace heed {

struct NodeTiming {
  std::string node, op;
  std::string input_shapes, output_shapes;  // "[8, 512] [2048, 512]"
  int64_t calls = 0;
  double total_us = 0;
  double mean_us() const { return calls ? total_us / double(calls) : 0; }
};

struct TraceEvent {
  int node_index;       // into Profile::nodes
  double start_us, duration_us;
};

struct HEED_API Profile {
  std::vector<NodeTiming> nodes;    // one row per node and shape signature
  std::vector<TraceEvent> events;   // one per executed node (capped at 1,000,000)
  int64_t runs = 0;
  double run_total_us = 0;          // wall time of whole runs, overhead included

  // Nodes sorted by total time, then totals per op type.
  std::string table() const;
  // Chrome trace-event JSON (open in Perfetto or chrome://tracing).
  void write_chrome_trace(const std::string& path) const;
};

}  // namespace heed
