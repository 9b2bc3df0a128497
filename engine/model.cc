#include <heed/error.h>
#include <heed/model.h>

#include <algorithm>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/cpu_isa.h"
#include "engine/file_io.h"
#include "engine/graph_json.h"
#include "engine/importer.h"
#include "engine/model_impl.h"
#include "engine/optimize.h"
#include "engine/projection_weights.h"
#include "engine/safetensors.h"
#include "engine/validate.h"

namespace heed {
namespace detail {
namespace fs = std::filesystem;

std::string heed_file_in(const std::string& path) {
  std::error_code ec;
  const fs::path file = fs::path(path) / kHeedFileInDirectory;
  return fs::is_directory(path, ec) && fs::is_regular_file(file, ec) ? file.string() : "";
}

ir::GraphFile read_model(const std::string& path, const std::string& extra_weights, WeightStore& weights,
                         std::map<std::string, std::string>& metadata) {
  if (std::string file = heed_file_in(path); !file.empty()) return read_model(file, extra_weights, weights, metadata);
  if (const Importer* importer = find_importer(path)) {  // someone else's checkpoint: an importer makes the graphs
    ir::GraphFile graphs = importer->import(path, weights);
    metadata = graphs.metadata;
    return graphs;
  }
  if (path.ends_with(".safetensors")) {
    SafetensorsFile file = read_safetensors(path);
    auto it = file.metadata.find("heed.graph");
    if (it == file.metadata.end())
      throw Error(fmt::format("{}: no graph in __metadata__ (expected key \"heed.graph\"); "
                              "to run it, give a graph JSON with --weights", path));
    ir::GraphFile graphs = ir::parse_graph_json(it->second, path + ":__metadata__");
    metadata = file.metadata;  // what an importer recorded, when `heed convert` wrote the file
    metadata.erase(it->first);
    metadata.erase(kQuantizedKey);
    weights.add_file(file);
    if (!extra_weights.empty()) weights.add_file(read_safetensors(extra_weights));
    return graphs;
  }
  ir::GraphFile graphs = ir::parse_graph_json(read_text_file(path), path);
  std::string file = extra_weights;
  if (file.empty() && !graphs.weights.empty())
    file = resolve_model_path(fs::path(path).parent_path().string(), graphs.weights, path + ": \"weights\"");
  if (!file.empty()) weights.add_file(read_safetensors(file));
  return graphs;
}

ModelImpl::ModelImpl(const std::string& path, const LoadOptions& options, const GraphEdit& edit) : path_(path) {
  ir::GraphFile file = read_model(path, options.weights, weights_, metadata_);
  if (edit) edit(file, weights_);
  build(std::move(file), options);
}

// The attention ops' optional second output is their weights.
static void add_attention_captures(ir::Graph& g) {
  for (ir::Node& n : g.nodes) {
    if (n.op != "GlobalAttention" && n.op != "LocalAttention" && n.op != "MultiHeadAttention" &&
        n.op != "ScaledDotProductAttention")
      continue;
    std::string name = "attention/" + n.name;
    if (n.outputs.size() == 1) {
      n.outputs.push_back(name);
      n.captured_outputs = 1;
      g.outputs.push_back(name);
    } else if (n.outputs.size() == 2 &&
               std::find(g.outputs.begin(), g.outputs.end(), n.outputs[1]) == g.outputs.end()) {
      g.outputs.push_back(n.outputs[1]);  // declared but internal: return it too
    }
  }
}

// The GEMM dtype on a GPU, from gemm_dtype and precision (bf16 is one of its
// tensor-core dtypes); the CPU's GEMMs take `precision` (f32 for gemm_dtype).
DType ModelImpl::checked_gemm_dtype(const LoadOptions& options, Device device) const {
  const DType g = options.gemm_dtype;
  if (g != DType::f32 && g != DType::f16 && g != DType::bf16)
    throw Error(fmt::format("{}: gemm_dtype must be f32, f16 or bf16, got {}", path_, dtype_name(g)));
  if (g != DType::f32 && device == Device::cpu)
    throw Error(fmt::format("{}: gemm_dtype {} needs device 'cuda' (on the CPU, choose the precision instead)", path_,
                            dtype_name(g)));
  if (device == Device::cpu || precision_ == Precision::f32) return g;
  if (precision_ == Precision::int8)
    throw Error(fmt::format("{}: precision int8 runs on the CPU only (on CUDA: bf16, or gemm_dtype f16)", path_));
  if (g != DType::f32 && g != DType::bf16)
    throw Error(fmt::format("{}: precision bf16 and gemm_dtype {} disagree", path_, dtype_name(g)));
  return DType::bf16;
}

void ModelImpl::build(ir::GraphFile file, const LoadOptions& options) {
  const Backend* chosen = &cpu_backend();
  if (options.device == Device::cuda) {
    try {
      chosen = &cuda_backend();
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", path_, e.what()));
    }
  }
  const Backend& backend = *chosen;
  precision_ = options.precision.value_or(weights_.stored_precision().value_or(Precision::f32));
  const DType gemm_dtype = checked_gemm_dtype(options, backend.device());
  if (backend.device() != Device::cpu) weights_.materialize_all();  // a device backend copies the f32 values
  auto lookup = [this](const std::string& name) { return weights_.find(name); };
  std::map<std::string, std::map<std::string, ir::ValueType>> types;  // per graph
  // An importer may have read the file's pages to make copies (an ONNX
  // initializer the file has unaligned, a transposed weight): they leave memory
  // before the kernels pack, so the file, the copies and the packed weights are
  // never all resident at once. What the graph reads in place faults back in.
  weights_.release_mapped_pages();
  for (auto& [name, graph] : file.graphs) {
    try {
      if (options.capture_attention) add_attention_captures(graph);
      types[name] = ir::validate_graph(graph, lookup, weights_.describe_sources());
      if (options.optimize && ir::optimize_graph(graph, lookup).changed())
        types[name] = ir::validate_graph(graph, lookup, weights_.describe_sources());
    } catch (const Error& e) {
      throw Error(with_path(e.what()));
    }
  }
  if (backend.device() == Device::cpu) tied_tables_ = store_tied_tables(file, weights_, precision_);
  // On the CPU the weights that kernels packed leave memory as soon as the last
  // of their nodes is compiled (engine/constant_uses.h).
  std::optional<ConstantUses> uses;
  if (backend.device() == Device::cpu) {
    uses.emplace(weights_);
    for (const auto& [name, graph] : file.graphs) uses->count(graph);
    uses->free_unnamed();
  }
  for (auto& [name, graph] : file.graphs) {
    try {
      graphs_[name] = std::make_unique<CompiledGraph>(std::move(graph), types[name], weights_, backend,
                                                      gemm_dtype, uses ? &*uses : nullptr, precision_);
    } catch (const Error& e) {
      throw Error(with_path(e.what()));
    }
  }
  if (uses) {
    for (auto& [name, graph] : graphs_) graph->forget_constants_not_in(uses->read());
    uses->free_unread();
  }
  weights_.release_mapped_pages();
}

// Errors about a graph name the model's file first, unless they already do.
std::string ModelImpl::with_path(const std::string& message) const {
  return message.rfind(path_, 0) == 0 ? message : fmt::format("{}: {}", path_, message);
}

const CompiledGraph& ModelImpl::graph(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& g : graphs_) names.push_back(g.first);
  return *graphs_.at(ir::chosen_graph(names, name, path_));
}

}  // namespace detail

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::f32: return "f32";
    case Precision::bf16: return "bf16";
    case Precision::int8: return "int8";
  }
  return "?";
}

Precision precision_from_name(std::string_view name) {
  for (Precision p : {Precision::f32, Precision::bf16, Precision::int8})
    if (precision_name(p) == name) return p;
  throw Error(fmt::format("unknown precision '{}' (expected f32, bf16 or int8)", name));
}

Model Model::load(const std::string& path, const LoadOptions& options) {
  cpu_isa();  // a bad HEED_CPU_ISA is a load error, whatever the model's ops
  Model m;
  m.impl_ = std::make_shared<detail::ModelImpl>(path, options);
  return m;
}

std::vector<std::string> Model::graph_names() const {
  std::vector<std::string> names;
  for (const auto& g : impl_->graphs()) names.push_back(g.first);
  return names;
}

static ValueInfo info_of(const ir::GraphInput& v) {
  ValueInfo info{v.name, v.type.dtype, {}};
  for (const ir::Dim& d : v.type.shape) info.dims.push_back(d.str());
  return info;
}

std::vector<ValueInfo> Model::inputs(const std::string& graph) const {
  std::vector<ValueInfo> out;
  for (const ir::GraphInput& in : impl_->graph(graph).graph().inputs) out.push_back(info_of(in));
  return out;
}

std::vector<ValueInfo> Model::outputs(const std::string& graph) const {
  const CompiledGraph& g = impl_->graph(graph);
  std::vector<ValueInfo> out;
  for (int id : g.output_ids()) out.push_back(info_of({g.values()[id].name, g.values()[id].type}));
  return out;
}

const std::map<std::string, std::string>& Model::metadata() const { return impl_->metadata(); }

namespace {

// "[int8]" after a node whose GEMMs left f32; "" otherwise.
std::string precision_tag(const CompiledNode& n) {
  const Precision p = n.kernel ? n.kernel->precision() : Precision::f32;
  return p == Precision::f32 ? "" : fmt::format(" [{}]", precision_name(p));
}

}  // namespace

std::string Model::describe() const {
  std::string s;
  const WeightStore& w = impl_->weights();
  if (std::optional<Precision> p = w.stored_precision())
    s += fmt::format("weights: {} of {} stored in {} (heed quantize)\n", w.stored_count(), w.all().size(),
                     precision_name(*p));
  else if (impl_->tied_tables())
    s += fmt::format("weights: {} lookup table(s) tied to a projection stored in {}; lookups read those values\n",
                     impl_->tied_tables(), precision_name(impl_->precision()));
  for (const auto& [name, graph] : impl_->graphs()) {
    const auto& g = graph;  // a lambda may not capture a structured binding (C++20; clang refuses it)
    size_t lowp = 0;
    for (const CompiledNode& n : g->nodes()) lowp += !precision_tag(n).empty();
    s += fmt::format("graph '{}': {} nodes", name, g->nodes().size());
    if (impl_->precision() != Precision::f32)
      s += fmt::format(", {} in {} (marked), f32 in the rest", lowp, precision_name(impl_->precision()));
    s += "\n";
    if (size_t ranges = g->graph().activation_ranges.size())
      s += fmt::format("  activation ranges: {} calibrated (heed quantize --calibrate): {}\n", ranges,
                       impl_->precision() == Precision::int8 ? "int8 convolutions run at their fixed scales"
                                                             : "used in int8 only");
    auto value = [&](int id) {
      if (id < 0) return std::string("-");
      const ValueSlot& v = g->values()[id];
      return v.name + ": " + v.type.str();
    };
    for (int id : g->input_ids()) s += "  input   " + value(id) + "\n";
    for (const CompiledNode& n : g->nodes()) {
      std::vector<std::string> ins, outs;
      for (int id : n.in_ids) ins.push_back(value(id));
      for (int id : n.out_ids) outs.push_back(value(id));
      s += fmt::format("  {:<10} {:<16} ({}) -> ({}){}\n", n.node->op, n.node->name, fmt::join(ins, ", "),
                       fmt::join(outs, ", "), precision_tag(n));
    }
    for (int id : g->output_ids()) s += "  output  " + value(id) + "\n";
  }
  return s;
}

}  // namespace heed
