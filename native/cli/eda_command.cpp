// eda_command.cpp — every EdaSettings field as an option, its default shown by --help.
#include "eda_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_eda_command(CLI::App& app, eda::EdaSettings& s) {
  CLI::App* cmd = app.add_subcommand("eda", "exploratory data analysis of a dataset: class balance, groups, image sizes, "
                                            "per-channel mean/std, class means, samples, duplicates, unreadable files "
                                            "(DIR/report.md + PNGs)");
  cmd->add_option("data", s.data, "dataset: class folders, Kaggle folder (labels.csv), manifest CSV or reviewed-set ZIP")
      ->required();
  cmd->add_option("--out", s.out, "folder for report.md, the PNGs, duplicates.csv and unreadable.csv")->capture_default_str();
  cmd->add_option("--split", s.split, "split.csv from `cellcam split`: duplicate pairs in different parts are reported as leaks");
  cmd->add_option("--samples", s.samples, "random samples per class in samples.png")->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_option("--mean-size", s.mean_size, "side in pixels of the class mean images")->capture_default_str()
      ->check(CLI::Range(8, 256));
  cmd->add_option("--near-threshold", s.near_threshold, "near duplicates: horizontal and vertical dHash Hamming distances at most this (of 64 bits)")
      ->capture_default_str()->check(CLI::Range(0, 32));
  cmd->add_option("--near-tolerance", s.near_tolerance,
                  "near duplicates: and 16x16 gray thumbnails (each minus its mean) differ by at most this on average")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--threads", s.threads, "decoding threads (0: all cores)")->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--seed", s.seed, "which random samples")->capture_default_str();
  cmd->add_flag("--force", s.force, "--out already holds a report: replace it (without --force it is refused)");
  cmd->add_flag("!--no-progress", s.progress, "no progress bar on stderr");
}

}  // namespace cellcam::cli
