#pragma once
#include <CLI/CLI.hpp>

namespace heed::tools {

// Each adds a subcommand whose callback does the work (errors propagate as heed::Error).
void add_inspect(CLI::App& app);
void add_run(CLI::App& app);  // `run` and `profile`

}  // namespace heed::tools
