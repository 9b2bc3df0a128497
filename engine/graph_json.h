#pragma once
// The versioned JSON form of a model's graphs (docs/graph-format.md).
#include <map>
#include <string>

#include "engine/graph.h"

namespace heed::ir {

struct GraphFile {
  int version = 1;
  std::string weights;  // optional path of the safetensors file, relative to the JSON file
  std::map<std::string, Graph> graphs;
  std::map<std::string, std::string> metadata;  // set by importers (special tokens, sizes)
};

constexpr int kGraphFormatVersion = 1;

// `source` names the file (or "file.safetensors:__metadata__") in error messages.
GraphFile parse_graph_json(const std::string& text, const std::string& source);

// The JSON form of `file` (docs/graph-format.md), which parse_graph_json reads
// back to the same graphs: how an importer's result is saved (`heed convert`).
std::string write_graph_json(const GraphFile& file);

}  // namespace heed::ir
