// The whole attention block as exporters write it, fused into heed's
// MultiHeadAttention on the graph that onnx_attention.cc already fused:
//   q = [Concat](Transpose(Reshape(Linear_q(x) [* scalar])))         [B, H, T, D]
//   k = [Concat](Transpose(Reshape(Linear_k(x or memory) [* scalar])))  ([B, H, D, S] when k_transposed)
//   v = [Concat](Transpose(Reshape(Linear_v(x or memory))))
//   y = Linear_out(Reshape(Transpose([Reshape](ScaledDotProductAttention(q, k, v, mask?)))))
// (a Concat of one input: a cache update with no past), or q, k and v as the three
// parts of one packed projection, Split(Linear_qkv(x)) (GPT-2's c_attn),
// becomes y = MultiHeadAttention(x, [memory, memory], weights, biases, mask at input 16):
// Q, K and V from one GEMM, heads as strided views (no transposes), the same
// kernels as heed's own Transformers. The head splits must be the plain [B, T, E]
// -> [B, T, H, E/H] reshape with E = H * D equal to the model width (what MHA's
// [E, E] projections are), and every intermediate value read by the block alone.
// Anything else stays as it was (attention fused, projections as Linear nodes).
#include <algorithm>
#include <cmath>
#include <optional>

#include "loaders/onnx/onnx_attention.h"

#include "engine/kernel_helpers.h"
#include "engine/mapped_file.h"
#include "loaders/onnx/onnx_rewrite.h"
#include "ops/attention.h"

namespace heed::onnx_import {
namespace {

namespace mha = ops::multi_head_attention;

// Dims known equal: the same number, or the same named dim (two unknown dims may differ).
bool same_dim(const ir::Dim& a, const ir::Dim& b) { return a == b && (a.is_known() || !a.sym.empty()); }
bool same_shape(const std::optional<ir::ValueType>& a, const std::optional<ir::ValueType>& b) {
  if (!a || !b || a->rank() != b->rank()) return false;
  for (int d = 0; d < a->rank(); ++d)
    if (!same_dim(a->shape[size_t(d)], b->shape[size_t(d)])) return false;
  return true;
}

// One projection and the reshape/transpose that split it into heads.
struct Projection {
  std::string x, bias;          // the Linear's input and bias ("" when none)
  const ir::Node* linear = nullptr;
  const ir::Node* packed = nullptr;  // the Split of a packed [3E, E] projection it is a part of
  int part = -1;                     // which of its outputs
  int64_t heads = 0, dim = 0;
  float scale = 1.f;            // a scalar the projection was multiplied by
  std::vector<size_t> nodes;    // the nodes fused away
};

class MhaFusion final : public Fusion {
 public:
  MhaFusion(ir::Graph& g, WeightStore& weights, const std::map<std::string, ir::ValueType>& types)
      : Fusion(g, weights, types), store_(weights) {}

 private:
  // A Linear with no activation, weight [rows, E] (MHA's layout; or [E, rows] as
  // a constant, transposed for MHA by out_in_weight), reading [B, T, E].
  bool linear_of(const ir::Node& n, int64_t rows, int64_t e) const {
    if (attr_or(n, "activation", "none") != "none" || !n.has_input(1)) return false;
    std::optional<ir::ValueType> w = rw_.type(n.inputs[1]), x = rw_.type(n.inputs[0]);
    if (!w || !x || w->dtype != DType::f32 || x->rank() != 3 || !same_dim(x->shape[2], ir::Dim::known(e))) return false;
    if (!in_out(n)) return w->shape == ir::SymShape{ir::Dim::known(rows), ir::Dim::known(e)};
    return store_.find(n.inputs[1]) && w->shape == ir::SymShape{ir::Dim::known(e), ir::Dim::known(rows)};
  }
  static bool in_out(const ir::Node& linear) { return attr_or(linear, "weight_layout", "out_in") == "in_out"; }

  // The Linear's weight in MHA's [out, in] layout: itself, or a transposed copy of
  // an [in, out] constant (made once, a weight of its own).
  std::string out_in_weight(const ir::Node& linear) {
    const std::string& w = linear.inputs[1];
    if (!in_out(linear)) return w;
    const std::string name = w + "/out_in";
    if (!store_.find(name)) {
      const Tensor& t = *store_.find(w);
      store_.add(name, part_of(t.data_as<float>(), t.shape()[1], 0, t.shape()[0], 0, t.shape()[1], true));
      g_.parameters.push_back({name, name});
      if (rw_.readers(w).size() == 1) store_.free(&t);  // only this Linear read it: not needed beside the copy
    }
    return name;
  }

  // value = Transpose<perm>(Reshape [B, T, E] -> [B, T, H, D] (Linear(x) [* scalar])).
  std::optional<Projection> head_split(const std::string& value, const std::vector<int64_t>& perm) {
    Projection p;
    std::string heads = value;
    if (ir::Node* c = rw_.sole_producer(heads, "Concat"); c && c->inputs.size() == 1) {
      p.nodes.push_back(rw_.index(*c));
      heads = c->inputs[0];
    }
    ir::Node* t = rw_.sole_producer(heads, "Transpose");
    if (!t || t->attr_ints("perm") != perm) return std::nullopt;
    ir::Node* r = rw_.sole_producer(t->inputs[0], "Reshape");
    if (!r) return std::nullopt;
    std::optional<ir::ValueType> in = rw_.type(r->inputs[0]), out = rw_.type(r->outputs[0]);
    if (!in || !out || in->rank() != 3 || out->rank() != 4) return std::nullopt;
    const ir::SymShape &a = in->shape, &b = out->shape;
    if (!same_dim(a[0], b[0]) || !same_dim(a[1], b[1]) || !b[2].is_known() || !b[3].is_known() || !a[2].is_known() ||
        a[2].value != b[2].value * b[3].value)
      return std::nullopt;
    p.heads = b[2].value, p.dim = b[3].value;
    p.nodes.insert(p.nodes.end(), {rw_.index(*t), rw_.index(*r)});
    std::string projected = r->inputs[0];
    if (ir::Node* m = rw_.sole_producer(projected, "Mul")) {
      for (int side = 0; side < 2; ++side)
        if (std::optional<float> s = rw_.scalar(m->inputs[size_t(side)]); s && projected == r->inputs[0]) {
          p.scale = *s;
          projected = m->inputs[size_t(1 - side)];
          p.nodes.push_back(rw_.index(*m));
        }
    }
    int64_t rows = a[2].value;  // of the projection's weight
    if (ir::Node* split = rw_.sole_producer(projected, "Split")) {
      if (!packed_split(*split)) return std::nullopt;
      p.packed = split;
      p.part = int(std::find(split->outputs.begin(), split->outputs.end(), projected) - split->outputs.begin());
      p.nodes.push_back(rw_.index(*split));
      projected = split->inputs[0];
      rows *= 3;
    }
    ir::Node* lin = rw_.sole_producer(projected, "Linear");
    if (!lin || !linear_of(*lin, rows, a[2].value)) return std::nullopt;
    p.x = lin->inputs[0], p.linear = lin, p.bias = lin->has_input(2) ? lin->inputs[2] : "";
    p.nodes.push_back(rw_.index(*lin));
    return p;
  }

  // A Split of [.., 3E] into three [.., E] along the last axis.
  bool packed_split(const ir::Node& split) const {
    auto axis = split.attrs.find("axis");
    std::optional<ir::ValueType> in = rw_.type(split.inputs[0]);
    if (split.outputs.size() != 3 || axis == split.attrs.end() || !in || in->rank() < 1) return false;
    const int64_t* a = std::get_if<int64_t>(&axis->second);
    if (!a || (*a != -1 && *a != in->rank() - 1) || !in->shape.back().is_known()) return false;
    for (const std::string& out : split.outputs) {
      std::optional<ir::ValueType> o = rw_.type(out);
      if (!o || !same_dim(o->shape.back(), ir::Dim::known(in->shape.back().value / 3))) return false;
    }
    return in->shape.back().value % 3 == 0;
  }

  // The output projection reading the merged heads of `context` [B, H, T, D]:
  // [Reshape to itself] -> Transpose(0, 2, 1, 3) -> Reshape [B, T, H * D] -> Linear.
  ir::Node* output_projection(const std::string& context, int64_t e, std::vector<size_t>& nodes) {
    std::string value = context;
    if (ir::Node* same = rw_.sole_reader(value, "Reshape"); same && same_shape(rw_.type(same->outputs[0]), rw_.type(value))) {
      nodes.push_back(rw_.index(*same));
      value = same->outputs[0];
    }
    ir::Node* t = rw_.sole_reader(value, "Transpose");
    if (!t || t->attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3}) return nullptr;
    ir::Node* r = rw_.sole_reader(t->outputs[0], "Reshape");
    if (!r) return nullptr;
    std::optional<ir::ValueType> in = rw_.type(t->outputs[0]), out = rw_.type(r->outputs[0]);
    if (!in || !out || in->rank() != 4 || out->rank() != 3 || !same_dim(in->shape[0], out->shape[0]) ||
        !same_dim(in->shape[1], out->shape[1]) || !same_dim(out->shape[2], ir::Dim::known(e)))
      return nullptr;
    ir::Node* lin = rw_.sole_reader(r->outputs[0], "Linear");
    if (!lin || lin->inputs[0] != r->outputs[0] || !linear_of(*lin, e, e)) return nullptr;
    nodes.push_back(rw_.index(*t));
    nodes.push_back(rw_.index(*r));
    return lin;
  }

  bool fuse(size_t sdpa_index) override {
    ir::Node& sdpa = g_.nodes[sdpa_index];
    if (sdpa.outputs.size() != 1) return false;
    const bool k_transposed = sdpa.attr_int("k_transposed");
    const std::vector<int64_t> heads_perm{0, 2, 1, 3};
    std::optional<Projection> q = head_split(sdpa.inputs[0], heads_perm);
    if (!q) return false;
    std::optional<Projection> k = head_split(sdpa.inputs[1], k_transposed ? std::vector<int64_t>{0, 2, 3, 1} : heads_perm);
    std::optional<Projection> v = head_split(sdpa.inputs[2], heads_perm);
    if (!k && !v && !k_transposed) return fuse_with_past(sdpa_index, *q);
    if (!k || !v || k->x != v->x || v->scale != 1.f) return false;
    if (q->heads != k->heads || q->heads != v->heads || q->dim != k->dim || q->dim != v->dim) return false;
    const bool packed = q->packed;  // then all three are its parts, in order
    if ((q->packed || k->packed || v->packed) &&
        (q->packed != k->packed || q->packed != v->packed || q->part != 0 || k->part != 1 || v->part != 2))
      return false;
    const int64_t e = q->heads * q->dim;
    std::vector<size_t> nodes{sdpa_index};
    ir::Node* out = output_projection(sdpa.outputs[0], e, nodes);
    if (!out) return false;
    double scale = sdpa.attr_float("scale");
    if (scale < 0) scale = 1.0 / std::sqrt(double(q->dim));
    scale *= double(q->scale) * double(k->scale);
    const bool self = k->x == q->x;
    std::vector<std::string> inputs{q->x, self ? "" : k->x, self ? "" : v->x, out_in_weight(*q->linear),
                                    packed ? "" : out_in_weight(*k->linear), packed ? "" : out_in_weight(*v->linear),
                                    q->bias, k->bias, v->bias, out_in_weight(*out), out->has_input(2) ? out->inputs[2] : ""};
    if (packed) inputs[mha::kKBias] = inputs[mha::kVBias] = "";  // in_proj [3E, E] and its bias
    if (sdpa.has_input(3)) {
      inputs.resize(mha::kMask);
      inputs.push_back(sdpa.inputs[3]);
    }
    for (const Projection* p : {&*q, &*k, &*v}) rw_.take(p->nodes);
    rw_.take(nodes);
    out->name = sdpa.name;
    out->op = "MultiHeadAttention";
    out->inputs = std::move(inputs);
    out->attrs = {{"num_heads", q->heads}, {"scale", scale}};
    return true;
  }

  // Keys and values that are not head splits of projections (an exported past:
  // present = Concat(past, new heads), a graph output) stay as the graph makes
  // them; the query's projection, the attention, the merge and the output
  // projection become a MultiHeadAttention over them (kv_projected). A packed
  // q/k/v projection keeps only its k and v parts.
  bool fuse_with_past(size_t sdpa_index, Projection q) {
    ir::Node& sdpa = g_.nodes[sdpa_index];
    for (size_t i : {size_t(1), size_t(2)}) {
      std::optional<ir::ValueType> kv = rw_.type(sdpa.inputs[i]);
      if (!kv || kv->rank() != 4 || !same_dim(kv->shape[1], ir::Dim::known(q.heads)) ||
          !same_dim(kv->shape[3], ir::Dim::known(q.dim)))
        return false;
    }
    const int64_t e = q.heads * q.dim;
    std::vector<size_t> nodes{sdpa_index};
    ir::Node* out = output_projection(sdpa.outputs[0], e, nodes);
    if (!out) return false;
    std::string q_weight, q_bias = q.bias;
    if (q.packed) {
      if (!drop_query_part(q, e, q_weight, q_bias)) return false;
      std::erase_if(q.nodes, [&](size_t i) { return i == rw_.index(*q.packed) || i == rw_.index(*q.linear); });
    } else {
      q_weight = out_in_weight(*q.linear);
    }
    double scale = sdpa.attr_float("scale");
    if (scale < 0) scale = 1.0 / std::sqrt(double(q.dim));
    std::vector<std::string> inputs{q.x, sdpa.inputs[1], sdpa.inputs[2], q_weight, "", "", q_bias, "", "",
                                    out_in_weight(*out), out->has_input(2) ? out->inputs[2] : ""};
    if (sdpa.has_input(3)) {
      inputs.resize(mha::kMask);
      inputs.push_back(sdpa.inputs[3]);
    }
    rw_.take(q.nodes);
    rw_.take(nodes);
    out->name = sdpa.name;
    out->op = "MultiHeadAttention";
    out->inputs = std::move(inputs);
    out->attrs = {{"num_heads", q.heads}, {"scale", scale * double(q.scale)}, {"kv_projected", int64_t(1)}};
    return true;
  }

  // The packed projection [.., 3E] of `q` loses its query part: its weight and
  // bias become the k/v part ([.., 2E], the Split's two outputs), and the query's
  // weight ([E, E], MHA's [out, in]) and bias are weights of their own, named
  // after the packed ones + "/q" (returned in q_weight, q_bias). False when the
  // parts are not constants.
  bool drop_query_part(const Projection& q, int64_t e, std::string& q_weight, std::string& q_bias) {
    ir::Node& lin = *const_cast<ir::Node*>(q.linear);
    ir::Node& split = *const_cast<ir::Node*>(q.packed);
    const Tensor* w = store_.find(lin.inputs[1]);
    const Tensor* b = q.bias.empty() ? nullptr : store_.find(q.bias);
    if (!w || (!q.bias.empty() && !b) || q.part != 0) return false;
    const std::string wn = lin.inputs[1], bn = q.bias;
    const float* wd = w->data_as<float>();
    if (in_out(lin)) {  // [E, 3E]: columns
      store_.add(wn + "/q", part_of(wd, 3 * e, 0, e, 0, e, true));
      store_.add(wn + "/kv", part_of(wd, 3 * e, 0, e, e, 2 * e, false));
    } else {  // [3E, E]: rows
      store_.add(wn + "/q", part_of(wd, e, 0, e, 0, e, false));
      store_.add(wn + "/kv", part_of(wd, e, e, 2 * e, 0, e, false));
    }
    std::vector<std::string> added{wn + "/q", wn + "/kv"};
    if (b) {
      store_.add(bn + "/q", Tensor::copy_of(DType::f32, Shape({e}), b->data_as<float>()));
      store_.add(bn + "/kv", Tensor::copy_of(DType::f32, Shape({2 * e}), b->data_as<float>() + e));
      added.insert(added.end(), {bn + "/q", bn + "/kv"});
    }
    for (const std::string& a : added) g_.parameters.push_back({a, a});
    if (rw_.readers(wn).size() == 1) store_.free(w);  // the parts replace it
    if (b && rw_.readers(bn).size() == 1) store_.free(b);
    lin.inputs[1] = wn + "/kv";
    if (b) lin.inputs[2] = bn + "/kv";
    q_weight = wn + "/q";
    q_bias = b ? bn + "/q" : "";
    split.outputs.erase(split.outputs.begin());
    if (auto sizes = split.attrs.find("sizes"); sizes != split.attrs.end())
      if (auto* v = std::get_if<std::vector<int64_t>>(&sizes->second); v && !v->empty()) *v = {e, e};
    return true;
  }

  // Rows [r0, r0 + rows) x columns [c0, c0 + count) of a row-major matrix `cols`
  // wide, transposed when asked, as a tensor of its own: mapped apart from the
  // heap, as the kernels pack it and it goes at load (engine/mapped_file.h).
  static Tensor part_of(const float* m, int64_t cols, int64_t r0, int64_t rows, int64_t c0, int64_t count,
                        bool transposed) {
    Tensor t = mapped_tensor(DType::f32, transposed ? Shape({count, rows}) : Shape({rows, count}));
    float* to = t.data_as<float>();
    const float* from = m + r0 * cols + c0;
    if (transposed) transpose_into(from, cols, rows, count, to);
    else
      for (int64_t r = 0; r < rows; ++r) std::copy_n(from + r * cols, count, to + r * count);
    return t;
  }

  WeightStore& store_;
};

// A Linear on [B * T, E] between a Reshape from [B, T, E] and one back to
// [B, T, N] (GPT-2's Conv1D exports as view(-1, E), addmm, view) becomes the
// same Linear on [B, T, E], so that the attention block around it matches.
void unflatten_linears(ir::Graph& g, const WeightStore& weights, const std::map<std::string, ir::ValueType>& types) {
  GraphRewrite rw(g, weights, types);
  for (ir::Node& lin : g.nodes) {
    if (lin.op != "Linear") continue;
    ir::Node* flat = rw.sole_producer(lin.inputs[0], "Reshape");
    ir::Node* back = rw.sole_reader(lin.outputs[0], "Reshape");
    if (!flat || !back) continue;
    std::optional<ir::ValueType> x = rw.type(flat->inputs[0]), x2 = rw.type(flat->outputs[0]),
                                 y2 = rw.type(lin.outputs[0]), y = rw.type(back->outputs[0]);
    if (!x || !x2 || !y2 || !y || x->rank() != 3 || x2->rank() != 2 || y2->rank() != 2 || y->rank() != 3) continue;
    // Rows are conserved, so [B, T, E] -> [M, E] made M = B * T when E is a known nonzero number.
    const ir::Dim &e = x->shape[2], &n = y2->shape[1];
    if (!e.is_known() || e.value == 0 || !n.is_known() || n.value == 0 || !same_dim(x2->shape[1], e) ||
        !same_dim(y->shape[2], n) || !same_dim(x->shape[0], y->shape[0]) || !same_dim(x->shape[1], y->shape[1]))
      continue;
    rw.take({rw.index(*flat), rw.index(*back)});
    lin.inputs[0] = flat->inputs[0];
    lin.outputs[0] = back->outputs[0];
  }
  rw.drop_taken();
}

}  // namespace

int fuse_multi_head_attention(ir::Graph& g, WeightStore& weights, const std::map<std::string, ir::ValueType>& types) {
  unflatten_linears(g, weights, types);
  g = without_unread_nodes(std::move(g));  // the shape arithmetic of the reshapes it dropped
  return MhaFusion(g, weights, types).run("ScaledDotProductAttention");
}

}  // namespace heed::onnx_import
