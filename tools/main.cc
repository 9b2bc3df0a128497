// The `heed` command-line tool: inspect, run, profile, attention, translate,
// caption, vqa, convert, quantize.
#include <heed/error.h>

#include <malloc.h>

#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "tools/commands.h"

int main(int argc, char** argv) {
  // Sessions fed shapes that keep changing (batches of sentences of every length)
  // prepare kernels and free them again. glibc raises its mmap threshold to the
  // largest block freed (up to 32 MB), after which such buffers come from the
  // heap and fragment it: translating 500 sentences in beams of 4 and batches of
  // 32 peaked 115 MB higher than with the threshold fixed (docs/benchmarks.md).
  // A fixed threshold keeps large buffers mapped, returned whole when freed.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  CLI::App app{"heed: a compiled inference engine for attention models"};
  app.require_subcommand(1);
  heed::tools::add_inspect(app);
  heed::tools::add_run(app);
  heed::tools::add_attention(app);
  heed::tools::add_translate(app);
  heed::tools::add_caption(app);
  heed::tools::add_vqa(app);
  heed::tools::add_convert(app);
  heed::tools::add_quantize(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const heed::Error& e) {
    std::fprintf(stderr, "heed: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heed: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
