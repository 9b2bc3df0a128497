// Whole models on the CUDA backend against the CPU (ggml-style: every backend
// checked against the CPU): graphs, and Marian greedy translation token for
// token. Skips, saying why, where there is no GPU; either way, asking for
// Device::cuda without one is a clear error, never a crash.
#include <heed/caption.h>
#include <heed/generate.h>
#include <heed/translate.h>
#include <heed/vqa.h>

#include <cmath>

#include "engine/backend.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

LoadOptions on(Device device) {
  LoadOptions o;
  o.device = device;
  return o;
}

TEST(Cuda, UnavailableDeviceIsAClearError) {
  std::string why;
  if (test::cuda_usable(&why)) GTEST_SKIP() << "a GPU is present: nothing to refuse";
  EXPECT_TRUE(test::throws_error_with([] { Model::load(test::fixture("block.json"), on(Device::cuda)); },
                                      "device 'cuda' is not available"));
}

class CudaGraph : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(CudaGraph, MatchesCpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const auto& [graph, inputs_file] = GetParam();
  TensorMap inputs;
  for (auto& [name, t] : read_safetensors(inputs_file).tensors) inputs[name] = t;
  TensorMap cpu = Session(Model::load(graph)).run(inputs);
  TensorMap gpu = Session(Model::load(graph, on(Device::cuda))).run(inputs);
  for (const auto& [name, t] : cpu) EXPECT_TRUE(test::all_close(gpu.at(name), t, 1e-4, 1e-5)) << graph << " output " << name;
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGraph,
                         ::testing::Values(std::pair{std::string(HEED_EXAMPLES) + "/mlp/mlp.json",
                                                     std::string(HEED_EXAMPLES) + "/mlp/mlp_inputs.safetensors"},
                                           std::pair{test::fixture("block.json"), test::fixture("block_inputs.safetensors")}));

TEST(Cuda, MarianGreedyMatchesCpuTokenForToken) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::vector<std::vector<int64_t>> sources = {{5, 9, 13, 0}, {7, 0}, {3, 4, 5, 6, 7, 8, 0}};
  GenerationOptions o;
  o.max_new_tokens = 12;
  auto cpu = Generator(Model::load(test::fixture("marian_tiny")), 1).generate(sources, o);
  auto gpu = Generator(Model::load(test::fixture("marian_tiny"), on(Device::cuda)), 1).generate(sources, o);
  for (size_t b = 0; b < sources.size(); ++b) {
    EXPECT_EQ(gpu[b].tokens, cpu[b].tokens) << "source " << b;
    EXPECT_NEAR(gpu[b].score, cpu[b].score, 1e-3) << "source " << b;
  }
}

// The bundled translation models (Marian and LSTM seq2seq: every op family of
// generation) on the GPU give the CPU's translations of their held-out lines.
class CudaTranslation : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaTranslation, MatchesCpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::string dir = std::string(HEED_EXAMPLES) + "/" + GetParam();
  const std::vector<std::string> lines = {"3rd of March 2021", "the 14th of July, 1989", "25.12.2023", "7/4/1976", "1 jan 2000"};
  GenerationOptions beam;
  beam.beam_size = 3;
  for (const GenerationOptions& o : {GenerationOptions{}, beam}) {
    auto cpu = Translator(dir, {.threads = 1}).translate(lines, o);
    auto gpu = Translator(dir, {.device = Device::cuda}).translate(lines, o);
    for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(gpu[i].text, cpu[i].text) << lines[i] << " beam " << o.beam_size;
  }
}

INSTANTIATE_TEST_SUITE_P(Bundled, CudaTranslation, ::testing::Values("dates-marian", "dates-lstm"));

// Tensors in GPU memory (Session::new_tensor, to_device, keep_outputs_on_device)
// are read and written in place and give the CPU's results.
TEST(Cuda, DeviceTensorsStayOnTheGpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::string ex = HEED_EXAMPLES;
  TensorMap inputs;
  for (auto& [name, t] : read_safetensors(ex + "/mlp/mlp_inputs.safetensors").tensors) inputs[name] = t;
  const TensorMap cpu = Session(Model::load(ex + "/mlp/mlp.json")).run(inputs);
  Model gpu_model = Model::load(ex + "/mlp/mlp.json", on(Device::cuda));
  Session gpu(gpu_model, {.keep_outputs_on_device = true});
  TensorMap on_gpu;
  for (const auto& [name, t] : inputs) on_gpu[name] = gpu.to_device(t);
  EXPECT_EQ(on_gpu.begin()->second.device(), Device::cuda);
  TensorMap out = gpu.run(on_gpu);
  for (const auto& [name, t] : cpu) {
    ASSERT_EQ(out.at(name).device(), Device::cuda) << name;
    EXPECT_TRUE(test::all_close(gpu.to_host(out.at(name)), t, 1e-4, 1e-5)) << name;
  }
  TensorMap owned;
  for (const auto& [name, t] : cpu) owned[name] = gpu.new_tensor(t.dtype(), t.shape());
  const void* where = owned.begin()->second.data();
  gpu.run(on_gpu, owned);
  EXPECT_EQ(owned.begin()->second.data(), where);
  for (const auto& [name, t] : cpu) EXPECT_TRUE(test::all_close(gpu.to_host(owned.at(name)), t, 1e-4, 1e-5)) << name;
}

// Runs over the same memory are recorded (a CUDA Graph) and replayed: results
// stay the CPU's, and a token id out of range is still an error naming the node
// (the check is read after the replay, not inside it).
TEST(Cuda, ReplayedRunsMatchCpuAndStillCheckIds) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::vector<std::vector<int64_t>> sources = {{5, 9, 13, 0}, {7, 0}};
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.min_new_tokens = 12;  // every step runs: many replays of the decode step
  Model gpu_model = Model::load(test::fixture("marian_tiny"), on(Device::cuda));
  Generator gpu(gpu_model, 1);
  auto cpu = Generator(Model::load(test::fixture("marian_tiny")), 1).generate(sources, o);
  for (int round = 0; round < 2; ++round) {  // the second round replays from its first steps
    auto got = gpu.generate(sources, o);
    for (size_t b = 0; b < sources.size(); ++b) EXPECT_EQ(got[b].tokens, cpu[b].tokens) << "round " << round << " source " << b;
  }
  EXPECT_TRUE(test::throws_error_with([&] { gpu.generate({{3, 64, 0}, {7, 0}}, o); }, "index 64 at position 1 is out of range [0, 64)"));
  auto after = gpu.generate(sources, o);
  for (size_t b = 0; b < sources.size(); ++b) EXPECT_EQ(after[b].tokens, cpu[b].tokens) << "after the error, source " << b;
}

// Per-node GPU times come from CUDA events: every node timed on every run, the
// events laid end to end from the run's start.
TEST(Cuda, ProfileTimesEveryNodeWithEvents) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  TensorMap inputs;
  for (auto& [name, t] : read_safetensors(test::fixture("block_inputs.safetensors")).tensors) inputs[name] = t;
  Model model = Model::load(test::fixture("block.json"), on(Device::cuda));
  Session session(model, {.profile = true});
  for (int i = 0; i < 3; ++i) session.run(inputs);
  const Profile p = session.profile();
  ASSERT_FALSE(p.nodes.empty());
  double total = 0;
  for (const NodeTiming& n : p.nodes) {
    EXPECT_EQ(n.calls, 3) << n.node;
    EXPECT_GE(n.total_us, 0) << n.node;
    total += n.total_us;
  }
  EXPECT_GT(total, 0);
  EXPECT_LE(total, p.run_total_us * 1.01);
  ASSERT_EQ(p.events.size(), 3 * p.nodes.size());
  for (size_t i = 1; i < p.nodes.size(); ++i)
    EXPECT_NEAR(p.events[i].start_us, p.events[i - 1].start_us + p.events[i - 1].duration_us, 1e-6);
}

// Generation's scoring on the GPU picks the CPU's candidates: the same indices,
// scores within float rounding, with EOS held back, forced, and beam bases.
TEST(Cuda, BestCandidatesMatchCpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const int64_t rows = 6, vocab = 5003;
  std::vector<float> logits(static_cast<size_t>(rows * vocab)), base(static_cast<size_t>(rows));
  uint32_t state = 12345;
  for (float& x : logits) x = float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24) * 20.f - 10.f;
  logits[7] = logits[9];  // a tie: the lower index first
  for (int64_t r = 0; r < rows; ++r) base[size_t(r)] = -0.5f * float(r);
  const Backend& gpu = cuda_backend();
  BackendBuffer on_gpu(gpu, logits.size() * sizeof(float));
  gpu.copy_in(on_gpu.get(), logits.data(), logits.size() * sizeof(float));
  struct Case { int64_t keep, hold, forced; bool base; };
  for (const Case c : {Case{1, -1, -1, false}, Case{8, -1, -1, true}, Case{8, 2, -1, true}, Case{4, 2, 3, true}}) {
    CandidateQuery q;
    q.rows = rows, q.vocab = vocab, q.keep = c.keep, q.hold = c.hold, q.forced = c.forced;
    q.base = c.base ? base.data() : nullptr;
    std::vector<float> want_s(size_t(rows * c.keep)), got_s(want_s.size());
    std::vector<int64_t> want_i(want_s.size()), got_i(want_s.size());
    q.logits = logits.data();
    cpu_backend().best_candidates(q, want_s.data(), want_i.data());
    q.logits = static_cast<const float*>(on_gpu.get());
    gpu.best_candidates(q, got_s.data(), got_i.data());
    for (size_t i = 0; i < want_s.size(); ++i) {
      EXPECT_EQ(got_i[i], want_i[i]) << "keep " << c.keep << " hold " << c.hold << " forced " << c.forced << " at " << i;
      if (std::isinf(want_s[i])) EXPECT_EQ(got_s[i], want_s[i]) << i;
      else EXPECT_NEAR(got_s[i], want_s[i], 1e-4) << i;
    }
  }
}

// The bundled captioning and VQA demos (ResNet trunk, LSTMCell, attention,
// LSTM over questions) on the GPU give the CPU's captions and answers.
TEST(Cuda, ShapesDemosMatchCpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::string ex = HEED_EXAMPLES, pics = ex + "/shapes-test/";
  std::vector<std::string> images;
  for (const char* name : {"000.png", "001.png", "002.png", "003.png", "004.png"}) images.push_back(pics + name);
  GenerationOptions o;
  o.max_new_tokens = 20;
  auto cpu = Captioner(ex + "/shapes-caption", {1}).caption(images, o);
  auto gpu = Captioner(ex + "/shapes-caption", {1, false, 8, Device::cuda}).caption(images, o);
  for (size_t i = 0; i < images.size(); ++i) EXPECT_EQ(gpu[i].text, cpu[i].text) << images[i];
  std::vector<Question> qs;
  for (const std::string& image : images)
    for (const char* q : {"what color is the circle?", "how many shapes are there?", "is there a square?"}) qs.push_back({image, q});
  auto cpu_answers = QuestionAnswerer(ex + "/shapes-vqa", {1}).answer(qs, 1);
  auto gpu_answers = QuestionAnswerer(ex + "/shapes-vqa", {1, false, 32, Device::cuda}).answer(qs, 1);
  for (size_t i = 0; i < qs.size(); ++i) {
    EXPECT_EQ(gpu_answers[i].answers[0].text, cpu_answers[i].answers[0].text) << qs[i].image << ": " << qs[i].text;
    EXPECT_NEAR(gpu_answers[i].answers[0].probability, cpu_answers[i].answers[0].probability, 1e-3);
  }
}

}  // namespace
}  // namespace heed
