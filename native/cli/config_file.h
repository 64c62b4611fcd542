// config_file.h — `--config FILE` for a subcommand: a TOML file of its options, keys the long option names
// without dashes (`lr = 0.001`, `batch-size = 64`, `augment = "cells"`, `tta = true`; the positional by
// its name, `data = "..."`). The command line wins over the file. CLI11's own set_config serves only the
// top-level app, hence this. Used by `cellcam train` (and `cellcam tune`); the format is train_config.h's.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace cellcam::cli {

// Adds --config to `cmd`. When the command's parsing completes, the file's keys fill the options the command
// line left unset, through each option's own checks, then `then` runs (e.g. to print the resolved settings).
// An unreadable file, an unknown key, a [section] or a value an option refuses is a CLI11 parse error
// naming the file and the key.
void add_config_option(CLI::App* cmd, std::function<void()> then = {});

}  // namespace cellcam::cli
