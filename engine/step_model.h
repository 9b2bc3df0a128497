#pragma once
// What generation needs from an encoder-decoder model, whatever its
// architecture: encode the sources once, step the decoder for every row, move a
// row's decoder state to another row (beam search). Marian (KV caches) and the
// LSTM seq2seq (recurrent state) implement it; generation.cc searches over it.
#include <heed/model.h>

#include <memory>
#include <vector>

namespace heed::detail {

// What the encoder reads: token sources (padded into input_ids and lengths by
// the step model), or the encoder's inputs given as they are (images).
struct Sources {
  std::vector<std::vector<int64_t>> ids;
  TensorMap inputs;  // when ids is empty; every input's dim 0 is the batch

  int64_t size() const;
  // Source positions of item b (its attention is cut to them); images: all.
  int64_t length(int64_t b) const;
};

struct TokenIds {
  int64_t vocab, pad, eos, start, forced_eos;
  int64_t max_positions;  // decoder positions the model has (no limit: a large number)
};

class StepModel {
 public:
  virtual ~StepModel() = default;
  // The decoder-step inputs for `sources`, each source's rows repeated `copies`
  // times (one per beam), with room for `steps` tokens.
  virtual TensorMap prepare(const Sources& sources, int64_t copies, int64_t steps) = 0;
  // One decoder step at position t for every row (tokens [rows, 1]): logits
  // [rows, vocab], in the memory the decoder runs in (on a GPU they stay there).
  virtual const Tensor& step(TensorMap& in, TensorMap& out, const Tensor& tokens, int64_t t) = 0;
  // Row r continues row from[r]'s state after step t (beam search).
  virtual void reorder(TensorMap& in, const std::vector<int64_t>& from, int64_t t) = 0;
  // The last step's attention over the source, [rows, ..., src], on the host.
  virtual Tensor attention(const TensorMap& out) const = 0;
  virtual Profile profile() const = 0;
  const TokenIds& ids() const { return ids_; }

  // Chooses by the model's "architecture" metadata; a clear error for other models.
  static std::unique_ptr<StepModel> create(const Model& model, int threads, bool profile);

 protected:
  TokenIds ids_{};
};

// out's rows along `axis` are t's rows from[0], from[1], ... (a new tensor).
Tensor gather_rows(const Tensor& t, int axis, const std::vector<int64_t>& from);
// [a, b] -> [a, a, b, b] along `axis` for copies = 2.
Tensor repeat_rows(const Tensor& t, int axis, int64_t copies);

// The sources padded to one length: ids [B, S] (pad after each), pad mask [B, S]
// (true past each length), lengths [B]; S is returned through `max_len`.
struct PaddedSources {
  Tensor ids, pad_mask, lengths;
  int64_t max_len = 0;
};
PaddedSources pad_sources(const std::vector<std::vector<int64_t>>& sources, int64_t pad);

Profile merge_profiles(const std::vector<const Session*>& sessions);

}  // namespace heed::detail
