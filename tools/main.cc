// The `heed` command-line tool: inspect, run, profile, attention, translate, caption, vqa, convert.
#include <heed/error.h>

#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"heed: a compiled inference engine for attention models"};
  app.require_subcommand(1);
  heed::tools::add_inspect(app);
  heed::tools::add_run(app);
  heed::tools::add_attention(app);
  heed::tools::add_translate(app);
  heed::tools::add_caption(app);
  heed::tools::add_vqa(app);
  heed::tools::add_convert(app);
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
