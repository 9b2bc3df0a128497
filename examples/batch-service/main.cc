// A tiny translation service without HTTP: requests arrive on stdin as
// "ID<TAB>TEXT" lines, responses leave on stdout as "ID<TAB>TRANSLATION" lines.
// Requests are gathered into batches (up to --batch lines, or whatever has
// arrived when an empty line or the end of input comes) and spread over worker
// threads, each with its own Translator over one shared, read-only Model.
//
//   batch-service MODEL_DIR [WORKERS] [BATCH] < requests.tsv
#include <heed/translate.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Request {
  std::string id, text;
};

// Translates one batch with `workers` threads, each taking a contiguous share.
std::vector<std::string> serve(std::vector<heed::Translator>& translators, const std::vector<Request>& batch) {
  std::vector<std::string> out(batch.size());
  std::vector<std::thread> threads;
  const size_t share = (batch.size() + translators.size() - 1) / translators.size();
  for (size_t w = 0; w < translators.size() && w * share < batch.size(); ++w)
    threads.emplace_back([&, w] {
      std::vector<std::string> lines;
      for (size_t i = w * share; i < std::min(batch.size(), (w + 1) * share); ++i) lines.push_back(batch[i].text);
      auto done = translators[w].translate(lines);
      for (size_t i = 0; i < done.size(); ++i) out[w * share + i] = done[i].text;
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [WORKERS] [BATCH] < requests.tsv\n", argv[0]);
    return 2;
  }
  const int workers = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  const size_t max_batch = argc > 3 ? size_t(std::max(1, std::atoi(argv[3]))) : 16;
  try {
    heed::Model model = heed::Model::load(argv[1]);
    std::vector<heed::Translator> translators;
    for (int w = 0; w < workers; ++w) translators.emplace_back(model, argv[1], heed::TranslatorOptions{.threads = 1});
    std::vector<Request> batch;
    auto flush = [&] {
      auto out = serve(translators, batch);
      for (size_t i = 0; i < batch.size(); ++i) std::cout << batch[i].id << '\t' << out[i] << '\n';
      std::cout.flush();
      batch.clear();
    };
    for (std::string line; std::getline(std::cin, line);) {
      if (line.empty()) {
        flush();
        continue;
      }
      const size_t tab = line.find('\t');
      if (tab == std::string::npos) {
        std::cout << line << "\terror: expected ID<TAB>TEXT\n";
        continue;
      }
      batch.push_back({line.substr(0, tab), line.substr(tab + 1)});
      if (batch.size() == max_batch) flush();
    }
    flush();
  } catch (const heed::Error& e) {
    std::fprintf(stderr, "batch-service: %s\n", e.what());
    return 1;
  }
}
