// Checkpoint directories as the importers read them: the first byte picks a
// layout (Marian, heed LSTM seq2seq, Show-Attend-Tell, pytorch-vqa), the rest
// replaces its config.json, or (Marian and captioning) its vocabulary file.
#include <heed/model.h>

#include "engine/file_io.h"
#include "fuzz/fuzz_util.h"
#include "loaders/marian_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kDirs[] = {"marian_tiny", "lstm_dot", "sat_r18", "vqa_features"};
  const int which = data[0] % 4;
  const bool vocab = (data[0] / 4) % 2 == 1 && (which == 0 || which == 2);
  const std::string dir = heed::fuzz::fixture_copy(kDirs[which]);
  const std::string file = vocab ? (which == 0 ? "vocab.json" : "word_map.json") : "config.json";
  static std::string originals[4][2];
  std::string& original = originals[which][vocab];
  if (original.empty()) original = heed::read_text_file(dir + "/" + file);
  heed::fuzz::write(std::string(kDirs[which]) + "/" + file, data + 1, size - 1);
  heed::fuzz::expect_no_crash([&] {
    if (which == 0 && vocab) heed::MarianTokenizer t(dir);
    else heed::Model::load(dir);
  });
  heed::fuzz::write(std::string(kDirs[which]) + "/" + file, reinterpret_cast<const uint8_t*>(original.data()), original.size());
  return 0;
}
