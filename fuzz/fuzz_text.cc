// Text as users give it: a line through the Marian tokenizer (SentencePiece and
// vocab.json), then decoding the ids back; a question through pytorch-vqa's
// tokenization; the bundled LSTM translator's encode.
#include <heed/translate.h>

#include "fuzz/fuzz_util.h"
#include "loaders/marian_tokenizer.h"
#include "loaders/vqa_question.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static heed::MarianTokenizer tokenizer(std::string(HEED_FIXTURES) + "/marian_tiny");
  const std::string text(reinterpret_cast<const char*>(data), size);
  heed::fuzz::expect_no_crash([&] {
    std::vector<int64_t> ids = tokenizer.encode(text);
    (void)tokenizer.decode(ids);
    (void)tokenizer.pieces(ids);
    (void)heed::vqa_question_tokens(text);
  });
  return 0;
}
