// The smallest program that embeds heed: load a translation model directory and
// translate the sentences given on the command line.
//
//   translate MODEL_DIR "3rd of March 2021" ...
#include <heed/translate.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR SENTENCE...\n", argv[0]);
    return 2;
  }
  try {
    heed::Translator translator(argv[1]);
    std::vector<std::string> lines(argv + 2, argv + argc);
    for (const heed::Translation& t : translator.translate(lines)) std::printf("%s\n", t.text.c_str());
  } catch (const heed::Error& e) {  // one line naming the file, tensor or node at fault
    std::fprintf(stderr, "translate: %s\n", e.what());
    return 1;
  }
}
