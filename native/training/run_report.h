// run_report.h — what a run folder says about its training besides the checkpoints: one row per epoch
// (metrics.csv, and the history kept in each checkpoint's state), the monitored value that picks the best
// epoch, and report.md. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer.h"

namespace cellcam::train {

struct EpochRow {
  int epoch = 0;
  double lr = 0, train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, val_auc = 0, val_f1 = 0;
  double seconds = 0, images_per_second = 0, data_wait_share = 0;
  double comm_share = 0;  // distributed: the share of the training pass spent in collectives (0 alone)
};

nlohmann::json row_to_json(const EpochRow& r);
EpochRow row_from_json(const nlohmann::json& j);  // missing fields are 0
std::string metrics_csv(const std::vector<EpochRow>& rows);

// The value --monitor names (val_loss | val_accuracy | val_auc | val_f1), and which way is better.
double monitored(const EpochRow& r, const std::string& monitor);
bool higher_is_better(const std::string& monitor);

// report.md of a finished run from its report.json: the numbers a reader looks for first, then the plots.
std::string report_markdown(const nlohmann::json& report, const TrainSettings& s);

}  // namespace cellcam::train
