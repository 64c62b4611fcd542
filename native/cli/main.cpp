// main.cpp — the `cellcam` binary: one executable, one subcommand per job.
//
//   cellcam --version
//   cellcam preprocess IMAGE|FOLDER... --spec SPEC.json --out DIR [--tile N --stride N]
//   cellcam train DATA [--out RUN] [--preset ...] [--resume RUN] ...   (DATA may be the page's reviewed-set .zip)
//   cellcam finetune MODEL|RUN DATA [--out RUN] [--original DATA] [--mix DATA] ...
//   cellcam eval RUN [--data DATA] [--checkpoint best|last|PATH] [--out DIR]
//   cellcam calibrate RUN
//   cellcam predict RUN IMAGE|FOLDER... [--out predictions.csv] [--kaggle]
//   cellcam export RUN --out models/NAME [--cam-layer features.N]
//   cellcam gradcam RUN|MODEL_DIR IMAGE|FOLDER... [--out DIR] [--class predicted|all|NAME]
//   cellcam eda DATA [--out DIR] [--split split.csv]
//   cellcam features RUN|MODEL_DIR IMAGE [--layers features.N,...] [--list] [--out DIR]
//   cellcam tune DATA --space SPACE.json [--trials N] [--method random|bayes] [--budget-minutes M] [--out DIR]
//
// Each subcommand is backed by a settings struct whose defaults `--help` prints; this file only wires
// CLI11 to them. Exit codes: 0 all inputs done, 1 usage or setup error, 2 some inputs failed (each has
// its own error row; the others were still processed).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "calibrate_command.h"
#include "eda_command.h"
#include "cellcam/version.h"
#include "ensemble_command.h"
#include "eval_command.h"
#include "export_command.h"
#include "features_command.h"
#include "finetune_command.h"
#include "gradcam_command.h"
#include "ood_command.h"
#include "predict_command.h"
#include "preprocess_command.h"
#include "split_command.h"
#include "launch.h"
#include "train_command.h"
#include "tune_command.h"
#include "runtime.h"

namespace {

// Whatever escapes (an exception on a worker thread, or from a destructor) ends the process with one
// line and exit code 1, not LibTorch's backtrace, an abort signal and a core dump.
[[noreturn]] void terminate_with_one_line() {
  std::string what = "unknown error";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = cellcam::native::first_line(x.what());
    } catch (...) {
    }
  }
  std::fprintf(stderr, "cellcam: internal error: %s\n", what.c_str());
  std::_Exit(1);
}

// The subcommand a user ran, for the first word of an error line.
std::string command_name(CLI::App& app) {
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  return chosen.empty() ? "cellcam" : "cellcam " + chosen.front()->get_name();
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(terminate_with_one_line);
  // A file-size limit (ulimit -f) then fails the write with EFBIG, which the writers report, instead of
  // killing the process with SIGXFSZ halfway through a file.
  std::signal(SIGXFSZ, SIG_IGN);
  cellcam::native::configure_heap();
  cellcam::dist::set_command_line(argc, argv);  // `train --nproc N` runs this command line again, N times
  CLI::App app{"cellcam — screen microscopy images: decode, preprocess, train, export, explain"};
  cellcam::native::configure_torch_threads();
  app.set_version_flag("--version", [] {
    return std::string("cellcam ") + cellcam::version_string() + "\n" + cellcam::native::runtime_report();
  });
  app.require_subcommand(1);
  app.get_formatter()->column_width(34);

  cellcam::native::PreprocessSettings preprocess;
  cellcam::cli::add_preprocess_command(app, preprocess);
  cellcam::train::TrainSettings train;
  cellcam::cli::add_train_command(app, train);
  cellcam::train::FinetuneSettings finetune;
  cellcam::cli::add_finetune_command(app, finetune);
  cellcam::train::EvalSettings eval;
  cellcam::cli::add_eval_command(app, eval);
  cellcam::train::CalibrateSettings calibrate;
  cellcam::cli::add_calibrate_command(app, calibrate);
  cellcam::train::PredictSettings predict;
  cellcam::cli::add_predict_command(app, predict);
  cellcam::explain::ExportSettings export_settings;
  cellcam::cli::add_export_command(app, export_settings);
  cellcam::explain::GradcamSettings gradcam;
  cellcam::cli::add_gradcam_command(app, gradcam);
  cellcam::train::EnsembleSettings ensemble;
  cellcam::cli::add_ensemble_command(app, ensemble);
  cellcam::data::SplitSettings split;
  cellcam::cli::add_split_command(app, split);
  cellcam::explain::OodSettings ood;
  cellcam::cli::add_ood_command(app, ood);
  cellcam::eda::EdaSettings eda;
  cellcam::cli::add_eda_command(app, eda);
  cellcam::explain::FeaturesSettings features;
  cellcam::cli::add_features_command(app, features);
  cellcam::tune::TuneSettings tune;
  cellcam::cli::add_tune_command(app, tune);

  if (argc > 1 && argv[1][0] != '-') {
    const CLI::App& all = app;
    std::string known;
    bool found = false;
    for (const CLI::App* sub : all.get_subcommands([](const CLI::App*) { return true; })) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == argv[1];
    }
    if (!found) {
      std::fprintf(stderr, "cellcam: unknown command \"%s\" (commands: %s; see cellcam --help)\n", argv[1], known.c_str());
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line (CLI11 adds a second): what is wrong, and where the allowed values are listed.
    std::fprintf(stderr, "%s: %s (see %s --help)\n", command_name(app).c_str(), e.what(), command_name(app).c_str());
    return 1;
  }
  try {
    if (app.got_subcommand("preprocess")) return cellcam::native::run_preprocess(preprocess);
    if (app.got_subcommand("train")) return cellcam::train::run_train(train);
    if (app.got_subcommand("finetune")) return cellcam::train::run_finetune(finetune);
    if (app.got_subcommand("eval")) return cellcam::train::run_eval(eval);
    if (app.got_subcommand("calibrate")) return cellcam::train::run_calibrate(calibrate);
    if (app.got_subcommand("predict")) return cellcam::train::run_predict(predict);
    if (app.got_subcommand("export")) return cellcam::explain::run_export(export_settings);
    if (app.got_subcommand("ensemble")) return cellcam::train::run_ensemble(ensemble);
    if (app.got_subcommand("split")) return cellcam::data::run_split(split);
    if (app.got_subcommand("gradcam")) return cellcam::explain::run_gradcam(gradcam);
    if (app.got_subcommand("ood")) return cellcam::explain::run_ood(ood);
    if (app.got_subcommand("eda")) return cellcam::eda::run_eda(eda);
    if (app.got_subcommand("features")) return cellcam::explain::run_features(features);
    if (app.got_subcommand("tune")) return cellcam::cli::run_tune_command(tune);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", command_name(app).c_str(), cellcam::native::first_line(e.what()).c_str());
    return 1;
  }
  return 1;
}
