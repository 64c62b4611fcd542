// calibrate_command.cpp — every CalibrateSettings field as an option, its default shown by --help.
#include "calibrate_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_calibrate_command(CLI::App& app, train::CalibrateSettings& s) {
  CLI::App* cmd = app.add_subcommand("calibrate", "fit temperature scaling on a run's validation split (RUN/calibration.json)");
  cmd->add_option("run", s.run, "run folder written by `cellcam train`")->required();
  cmd->add_option("--target-accuracy", s.target_accuracy, "review band: accuracy wanted on the images not referred")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-referral", s.max_referral, "review band: the largest share of images it may refer")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", s.threads, "LibTorch and decoding threads (0: all cores)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
