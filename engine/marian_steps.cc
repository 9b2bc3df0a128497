// Stepping a Marian decoder: cross-attention keys/values computed once per
// source, a KV cache per layer filled in place, beams reordered by copying rows.
// On a GPU the encoder output, cross keys/values, pad mask, caches and logits
// stay in device memory for the whole generation: each step moves the tokens in
// and the chosen candidates out (the attention too, when asked for).
#include <cstring>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/model_impl.h"
#include "engine/step_models.h"

namespace heed::detail {

namespace {

class MarianSteps final : public StepModel {
 public:
  MarianSteps(const Model& m, int threads, bool profile)
      : encoder_(m, {"encoder", threads, profile, true}), cross_kv_(m, {"cross_kv", threads, profile, true}),
        step_(m, {"decoder_step", threads, profile, true}), backend_(m.impl().graph("decoder_step").backend()) {
    layers_ = metadata_int(m, "decoder_layers");
    heads_ = metadata_int(m, "decoder_heads");
    head_dim_ = metadata_int(m, "head_dim");
    ids_ = token_ids(m, metadata_int(m, "max_positions"));
    share_sources_ = backend_.device() == Device::cpu && sources_apart(m.impl().graph("decoder_step").graph());
  }

  TensorMap prepare(const Sources& sources, int64_t copies, int64_t steps) override {
    if (sources.ids.empty()) throw Error("a Marian model reads token sources, not encoder inputs");
    PaddedSources p = pad_sources(sources.ids, ids_.pad);
    const int64_t B = int64_t(sources.size()), S = p.max_len;
    if (S > ids_.max_positions)
      throw Error(fmt::format("a source of {} tokens exceeds the model's {} positions", S, ids_.max_positions));
    Tensor positions = Tensor::empty(DType::i64, {S});
    for (int64_t j = 0; j < S; ++j) positions.data_as<int64_t>()[j] = j;
    TensorMap enc = encoder_.run({{"input_ids", p.ids}, {"positions", positions}, {"src_pad", p.pad_mask}});
    TensorMap in = cross_kv_.run({{"encoder_out", enc.at("encoder_out")}});
    in["src_pad"] = step_.to_device(p.pad_mask);
    if (copies > 1 && !share_sources_)
      for (auto& [name, t] : in) t = repeat_rows(t, 0, copies);
    const Shape cache_shape{B * copies, heads_, steps, head_dim_};
    if (caches_.empty() || caches_[0].shape() != cache_shape) {
      caches_.clear();
      for (int64_t i = 0; i < 2 * layers_; ++i) caches_.push_back(step_.new_tensor(DType::f32, cache_shape));
    }
    for (int64_t l = 0; l < layers_; ++l)
      for (int kv = 0; kv < 2; ++kv) in[fmt::format("cache_{}.{}", kv ? "v" : "k", l)] = caches_[size_t(2 * l + kv)];
    return in;
  }

  const Tensor& step(TensorMap& in, TensorMap& out, const Tensor& tokens, int64_t t) override {
    Tensor pos = Tensor::empty(DType::i64, {1}), fill = Tensor::empty(DType::i64, {});
    pos.data_as<int64_t>()[0] = fill.data_as<int64_t>()[0] = t;
    in["input_ids"] = tokens;
    in["positions"] = pos;
    in["position"] = fill;
    step_.run(in, out);
    return out.at("logits");
  }

  void reorder(TensorMap& in, const std::vector<int64_t>& from, int64_t t) override {
    const int64_t used = (t + 1) * head_dim_ * int64_t(sizeof(float));
    for (int64_t l = 0; l < layers_; ++l)
      for (const char* kv : {"k", "v"}) reorder_cache(in.at(fmt::format("cache_{}.{}", kv, l)), from, used);
  }

  Tensor attention(const TensorMap& out) const override { return step_.to_host(out.at("cross_attention")); }
  Profile profile() const override { return merge_profiles({&encoder_, &cross_kv_, &step_}); }

 private:
  // cache[row] = cache[from[row]] over each row's filled positions, in place. A
  // source row that is itself overwritten is staged first (so it is read before
  // it changes); every other source is read where it lies. The backend holding
  // the cache copies (a GPU's stays there). The stage has room for whole caches,
  // so that it is allocated once, not as the filled positions grow.
  void reorder_cache(Tensor& cache, const std::vector<int64_t>& from, int64_t used_bytes_per_head) {
    const int64_t rows = cache.shape()[0], per_head = cache.shape()[2] * cache.shape()[3] * int64_t(sizeof(float));
    const size_t used = size_t(used_bytes_per_head), staged_row = size_t(heads_) * used;
    if (stage_.nbytes() < size_t(rows * heads_ * per_head)) stage_ = step_.new_tensor(DType::u8, {rows * heads_ * per_head});
    char* base = static_cast<char*>(cache.data());
    char* stage = static_cast<char*>(stage_.data());
    auto moved = [&](int64_t r) { return from[size_t(r)] != r; };
    staged_.assign(size_t(rows), 0);
    to_stage_.clear();
    from_stage_.clear();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t src = from[size_t(r)];
      if (!moved(r) || !moved(src) || staged_[size_t(src)]) continue;
      staged_[size_t(src)] = 1;
      for (int64_t h = 0; h < heads_; ++h)
        to_stage_.push_back({stage + size_t(src) * staged_row + size_t(h) * used, base + (src * heads_ + h) * per_head, used});
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t src = from[size_t(r)];
      if (!moved(r)) continue;
      for (int64_t h = 0; h < heads_; ++h) {
        const char* read = staged_[size_t(src)] ? stage + size_t(src) * staged_row + size_t(h) * used
                                                : base + (src * heads_ + h) * per_head;
        from_stage_.push_back({base + (r * heads_ + h) * per_head, read, used});
      }
    }
    backend_.copy_blocks(to_stage_);
    backend_.copy_blocks(from_stage_);
  }

  // Whether decoder_step takes the source side (cross keys/values, src_pad) with a
  // batch of its own ("sources", not the hypotheses' "batch"), so that the beams
  // of a source read its rows, not copies: files converted before it say "batch"
  // for both. The CUDA kernels take one row per hypothesis.
  static bool sources_apart(const ir::Graph& g) {
    const ir::GraphInput *ids = nullptr, *pad = nullptr;
    for (const ir::GraphInput& i : g.inputs) {
      if (i.name == "input_ids") ids = &i;
      if (i.name == "src_pad") pad = &i;
    }
    return ids && pad && !ids->type.shape.empty() && !pad->type.shape.empty() &&
           !(ids->type.shape[0] == pad->type.shape[0]);
  }

  Session encoder_, cross_kv_, step_;
  const Backend& backend_;
  bool share_sources_ = false;
  int64_t layers_, heads_, head_dim_;
  Tensor stage_;
  // The KV caches of the last batch, handed out again to a batch of the same
  // shape: every position is written before it is read, so they need no reset,
  // and no batch pays for fresh memory again.
  std::vector<Tensor> caches_;
  std::vector<CopyBlock> to_stage_, from_stage_;
  std::vector<uint8_t> staged_;  // per row: copied into the stage this reorder
};

}  // namespace

std::unique_ptr<StepModel> make_marian_steps(const Model& model, int threads, bool profile) {
  return std::make_unique<MarianSteps>(model, threads, profile);
}

}  // namespace heed::detail
