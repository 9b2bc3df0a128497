// Captioning and question answering embedded in a program: caption a picture,
// then answer questions about it, each with where the model looked most.
//
//   describe-image CAPTION_MODEL_DIR VQA_MODEL_DIR IMAGE ["QUESTION" ...]
#include <heed/caption.h>
#include <heed/vqa.h>

#include <algorithm>
#include <cstdio>

// The grid cell with the most attention, as "row r, column c".
static std::string peak(const std::vector<float>& weights, int width) {
  const long at = std::max_element(weights.begin(), weights.end()) - weights.begin();
  return "row " + std::to_string(at / width) + ", column " + std::to_string(at % width);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CAPTION_MODEL_DIR VQA_MODEL_DIR IMAGE [QUESTION...]\n", argv[0]);
    return 2;
  }
  try {
    heed::Captioner captioner(argv[1]);
    heed::GenerationOptions options;
    options.beam_size = 3;
    options.return_attention = true;
    heed::Caption caption = captioner.caption({argv[3]}, options)[0];
    std::printf("%s\n", caption.text.c_str());
    heed::QuestionAnswerer answerer(argv[2]);
    std::vector<heed::Question> questions;
    for (int i = 4; i < argc; ++i) questions.push_back({argv[3], argv[i]});
    std::vector<heed::VqaResult> results = answerer.answer(questions, 1);
    for (size_t i = 0; i < results.size(); ++i)
      std::printf("%s\t%s\t%.3f\t(glimpse 1 looked most at %s)\n", questions[i].text.c_str(), results[i].answers[0].text.c_str(),
                  results[i].answers[0].probability, peak(results[i].attention[0], results[i].grid_width).c_str());
  } catch (const heed::Error& e) {  // one line naming the file at fault
    std::fprintf(stderr, "describe-image: %s\n", e.what());
    return 1;
  }
}
