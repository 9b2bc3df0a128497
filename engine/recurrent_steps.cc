// Stepping a recurrent decoder: its state is every decoder_step input X that has
// an output X_out (h, c and the input-feeding vector for the LSTM seq2seq). A
// state starts as the encoder's output of the same name, or zeros; after each
// step the outputs become the next inputs; beams gather their rows. On a GPU the
// encoder's outputs, the states and the logits stay in device memory.
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "engine/model_impl.h"
#include "engine/step_models.h"

namespace heed::detail {
namespace {

struct DecoderInput {
  std::string name;
  DType dtype;
  std::vector<std::string> dims;
  int batch_axis;
  bool state;
};

class RecurrentSteps final : public StepModel {
 public:
  RecurrentSteps(const Model& m, int threads, bool profile)
      : step_(m, {"decoder_step", threads, profile, true}), path_(m.impl().path()) {
    for (const std::string& g : m.graph_names()) {  // "encoder" reads the model's own input (tokens, a picture);
      if (g == "encoder") encoder_.emplace(m, SessionOptions{g, threads, profile, true});  // "encode_features" any
      if (g == "encode_features") features_.emplace(m, SessionOptions{g, threads, profile, true});  // encoder's output
    }
    ids_ = token_ids(m, int64_t(1) << 40);  // no position limit
    std::vector<std::string> outputs;
    for (const ValueInfo& v : m.outputs("decoder_step")) outputs.push_back(v.name);
    for (const ValueInfo& v : m.inputs("decoder_step")) {
      if (v.name == "input_ids") continue;
      auto axis = std::find(v.dims.begin(), v.dims.end(), "batch");
      if (axis == v.dims.end())
        throw Error(fmt::format("{}: decoder_step input '{}' has no 'batch' dimension", m.impl().path(), v.name));
      bool state = std::find(outputs.begin(), outputs.end(), v.name + "_out") != outputs.end();
      inputs_.push_back({v.name, v.dtype, v.dims, int(axis - v.dims.begin()), state});
    }
  }

  TensorMap prepare(const Sources& sources, int64_t copies, int64_t) override {
    TensorMap enc;
    const bool features = sources.ids.empty() && sources.inputs.count("encoder_out");
    if (features && !features_) throw Error(fmt::format("{}: this model takes no encoder features", path_));
    if (!features && !encoder_)
      throw Error(fmt::format("{}: this model has no encoder of its own (no trunk in its checkpoint): give it an "
                              "encoder's features ('encoder_out')", path_));
    if (sources.ids.empty()) {
      enc = (features ? *features_ : *encoder_).run(sources.inputs);
    } else {
      PaddedSources p = pad_sources(sources.ids, ids_.pad);
      enc = encoder_->run({{"input_ids", p.ids}, {"lengths", p.lengths}});
      enc["src_pad"] = step_.to_device(p.pad_mask);
      enc["lengths"] = step_.to_device(p.lengths);
    }
    TensorMap in;
    for (const DecoderInput& d : inputs_) {
      auto it = enc.find(d.name);
      Tensor t = it != enc.end() ? it->second : zeros(d, int64_t(sources.size()), step_);
      if (it == enc.end() && !d.state)
        throw Error(fmt::format("decoder_step input '{}' is neither an encoder output nor a state", d.name));
      in[d.name] = copies > 1 ? repeat_rows(t, d.batch_axis, copies) : t;
    }
    return in;
  }

  const Tensor& step(TensorMap& in, TensorMap& out, const Tensor& tokens, int64_t) override {
    in["input_ids"] = tokens;
    step_.run(in, out);
    for (const DecoderInput& d : inputs_)
      if (d.state) std::swap(in.at(d.name), out.at(d.name + "_out"));
    return out.at("logits");
  }

  void reorder(TensorMap& in, const std::vector<int64_t>& from, int64_t) override {
    for (const DecoderInput& d : inputs_)
      if (d.state) in[d.name] = gather_rows(in.at(d.name), d.batch_axis, from);
  }

  Tensor attention(const TensorMap& out) const override { return step_.to_host(out.at("attention")); }
  Profile profile() const override {
    std::vector<const Session*> sessions;
    if (encoder_) sessions.push_back(&*encoder_);
    if (features_) sessions.push_back(&*features_);
    sessions.push_back(&step_);
    return merge_profiles(sessions);
  }

 private:
  // A state the encoder does not give (the input-feeding vector): zeros, its
  // other dims as declared, in the memory the decoder runs in.
  static Tensor zeros(const DecoderInput& d, int64_t batch, const Session& step) {
    Shape shape;
    for (size_t i = 0; i < d.dims.size(); ++i) {
      if (int(i) == d.batch_axis) {
        shape.push_back(batch);
        continue;
      }
      try {
        shape.push_back(std::stoll(d.dims[i]));
      } catch (const std::exception&) {
        throw Error(fmt::format("decoder_step state '{}' has a symbolic dim '{}' besides batch", d.name, d.dims[i]));
      }
    }
    return step.new_tensor(d.dtype, shape);
  }

  std::optional<Session> encoder_, features_;
  Session step_;
  std::string path_;
  std::vector<DecoderInput> inputs_;
};

}  // namespace

std::unique_ptr<StepModel> make_recurrent_steps(const Model& model, int threads, bool profile) {
  return std::make_unique<RecurrentSteps>(model, threads, profile);
}

}  // namespace heed::detail
