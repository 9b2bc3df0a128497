// One loaded model shared by 8 threads, each with its own Session (or
// Translator), 100 runs each: every result is identical to the serial one.
// `./dev.sh tsan` runs these under ThreadSanitizer.
#include <heed/translate.h>

#include <cstring>
#include <functional>
#include <thread>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

constexpr int kThreads = 8, kRuns = 100;

// Runs body(thread, run) -> matches on kThreads threads x kRuns; counts mismatches per thread.
void expect_all_match(const std::function<bool(int, int)>& body) {
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) mismatches[size_t(t)] += !body(t, r);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
}

TEST(Concurrency, SessionsOnOneModelMatchSerialResults) {
  Model model = Model::load(test::fixture("block.json"));
  TensorMap inputs;
  for (auto& [name, t] : read_safetensors(test::fixture("block_inputs.safetensors")).tensors) inputs[name] = t;
  const Tensor serial = Session(model, {"", 1}).run(inputs).at("y");
  std::vector<Session> sessions;
  for (int t = 0; t < kThreads; ++t) sessions.emplace_back(model, SessionOptions{"", 1});
  expect_all_match([&](int t, int) {
    Tensor y = sessions[size_t(t)].run(inputs).at("y");
    return std::memcmp(y.data(), serial.data(), y.nbytes()) == 0;
  });
}

class ConcurrentTranslation : public ::testing::TestWithParam<std::string> {};

TEST_P(ConcurrentTranslation, TranslatorsOnOneModelMatchSerialResults) {
  const std::string dir = std::string(HEED_EXAMPLES) + "/" + GetParam();
  Model model = Model::load(dir);
  const std::vector<std::string> lines = {"3rd of March 2021", "the 14th of July, 1989", "25.12.2023", "7/4/1976"};
  GenerationOptions beam;
  beam.beam_size = 2;
  Translator alone(model, dir, {.threads = 1});
  std::vector<Translation> serial;  // each line alone, as the threads translate them
  for (const std::string& line : lines) serial.push_back(alone.translate({line}, beam)[0]);
  std::vector<Translator> translators;
  for (int t = 0; t < kThreads; ++t) translators.emplace_back(model, dir, TranslatorOptions{.threads = 1});
  expect_all_match([&](int t, int r) {
    const size_t i = size_t(t + r) % lines.size();
    Translation got = translators[size_t(t)].translate({lines[i]}, beam)[0];
    return got.text == serial[i].text && got.score == serial[i].score;
  });
}

INSTANTIATE_TEST_SUITE_P(Bundled, ConcurrentTranslation, ::testing::Values("dates-marian", "dates-lstm"));

}  // namespace
}  // namespace heed
