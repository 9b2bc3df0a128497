#include "engine/step_model.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/model_impl.h"
#include "engine/step_models.h"

namespace heed::detail {

std::unique_ptr<StepModel> StepModel::create(const Model& model, int threads, bool profile) {
  const auto& meta = model.impl().metadata();
  auto it = meta.find("architecture");
  std::string arch = it == meta.end() ? "" : it->second;
  if (arch == "marian") return make_marian_steps(model, threads, profile);
  if (arch == "lstm_seq2seq" || arch == "show_attend_tell") return make_recurrent_steps(model, threads, profile);
  throw Error(fmt::format("{}: not a generation model (load a Marian checkpoint, a heed LSTM seq2seq or a Show, "
                          "Attend and Tell directory)",
                          model.impl().path()));
}

int64_t metadata_int(const Model& model, const std::string& key) {
  const auto& meta = model.impl().metadata();
  auto it = meta.find(key);
  if (it == meta.end()) throw Error(fmt::format("{}: the model's metadata has no '{}'", model.impl().path(), key));
  return std::stoll(it->second);
}

TokenIds token_ids(const Model& model, int64_t max_positions) {
  return {metadata_int(model, "vocab_size"), metadata_int(model, "pad_token_id"), metadata_int(model, "eos_token_id"),
          metadata_int(model, "decoder_start_token_id"), metadata_int(model, "forced_eos_token_id"), max_positions};
}

// Rows are copied by the backend whose memory holds t (a GPU's state stays there).
Tensor gather_rows(const Tensor& t, int axis, const std::vector<int64_t>& from) {
  Shape shape = t.shape();
  const int64_t rows = shape[size_t(axis)];
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[size_t(i)];
  const size_t row = t.nbytes() / size_t(outer * rows);
  shape[size_t(axis)] = int64_t(from.size());
  const Backend& backend = backend_for(t.device());
  Tensor out = t.device() == Device::cpu ? Tensor::empty(t.dtype(), shape) : new_tensor(backend, t.dtype(), shape);
  const char* src = static_cast<const char*>(t.data());
  char* dst = static_cast<char*>(out.data());
  std::vector<CopyBlock> blocks;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t r = 0; r < from.size(); ++r)
      blocks.push_back({dst + (size_t(o) * from.size() + r) * row, src + size_t(o * rows + from[r]) * row, row});
  backend.copy_blocks(blocks);
  return out;
}

Tensor repeat_rows(const Tensor& t, int axis, int64_t copies) {
  std::vector<int64_t> from;
  for (int64_t r = 0; r < t.shape()[size_t(axis)]; ++r) from.insert(from.end(), size_t(copies), r);
  return gather_rows(t, axis, from);
}

int64_t Sources::size() const {
  if (!ids.empty() || inputs.empty()) return int64_t(ids.size());
  return inputs.begin()->second.shape().rank() > 0 ? inputs.begin()->second.shape()[0] : 0;
}

int64_t Sources::length(int64_t b) const {
  return ids.empty() ? std::numeric_limits<int64_t>::max() : int64_t(ids[size_t(b)].size());
}

PaddedSources pad_sources(const std::vector<std::vector<int64_t>>& sources, int64_t pad) {
  PaddedSources p;
  const int64_t B = int64_t(sources.size());
  for (const auto& s : sources) {
    if (s.empty()) throw Error("an empty source: every source needs at least its EOS token");
    p.max_len = std::max<int64_t>(p.max_len, int64_t(s.size()));
  }
  const int64_t S = p.max_len;
  p.ids = Tensor::empty(DType::i64, {B, S});
  p.pad_mask = Tensor::empty(DType::boolean, {B, S});
  p.lengths = Tensor::empty(DType::i64, {B});
  for (int64_t b = 0; b < B; ++b) {
    const auto& src = sources[size_t(b)];
    p.lengths.data_as<int64_t>()[b] = int64_t(src.size());
    for (int64_t j = 0; j < S; ++j) {
      const bool real = j < int64_t(src.size());
      p.ids.data_as<int64_t>()[b * S + j] = real ? src[size_t(j)] : pad;
      p.pad_mask.data_as<uint8_t>()[b * S + j] = !real;
    }
  }
  return p;
}

Profile merge_profiles(const std::vector<const Session*>& sessions) {
  Profile all;
  for (const Session* s : sessions) {
    Profile p = s->profile();
    const int offset = int(all.nodes.size());
    all.nodes.insert(all.nodes.end(), p.nodes.begin(), p.nodes.end());
    for (TraceEvent e : p.events) {
      e.node_index += offset;
      all.events.push_back(e);
    }
    all.runs += p.runs;
    all.run_total_us += p.run_total_us;
  }
  return all;
}

}  // namespace heed::detail
