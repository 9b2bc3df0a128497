// heed's Marian tokenizer (libsentencepiece + vocab.json) against transformers'
// MarianTokenizer on the same files (tests/reference/gen_marian_fixtures.py).
#include <heed/error.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "loaders/marian_tokenizer.h"
#include "tests/test_util.h"

namespace heed {
namespace {

TEST(MarianTokenizer, MatchesTransformers) {
  MarianTokenizer tok(test::fixture("marian_tiny"));
  std::ifstream f(test::fixture("marian_tiny_tokenizer.json"));
  for (const auto& c : nlohmann::json::parse(f)) {
    std::vector<int64_t> want = c["ids"];
    EXPECT_EQ(tok.encode(c["text"]), want) << c["text"];
    EXPECT_EQ(tok.decode(want), c["decoded"].get<std::string>()) << c["text"];
  }
}

TEST(MarianTokenizer, MissingFilesAreNamed) {
  std::string dir = test::temp_dir();
  try {
    MarianTokenizer t(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("source.spm: missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace heed
