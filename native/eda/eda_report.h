// eda_report.h — writes what gather_eda measured (eda_stats.h) into a folder: report.md, the figures
// (class_balance.png, groups.png, sizes.png, class_means.png, class_difference.png, samples.png),
// duplicates.csv and unreadable.csv. Every file is written atomically; no exception escapes.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "dataset.h"
#include "eda_stats.h"

namespace cellcam::eda {

struct ReportInput {
  std::string data;             // the DATA argument, for the title
  std::string split;            // --split file, or empty
  std::vector<int> part;        // per sample: 0 train, 1 val, 2 test, -1 not in the split; empty: no split
  double seconds = 0;           // wall time of the gathering, for the report
  int threads = 0;
};

// What the report found, for the command's summary line and for tests.
struct ReportCounts {
  std::size_t different_label = 0;  // duplicate pairs (exact or near) whose members have different labels
  std::size_t different_group = 0;  // ... different groups (both known)
  std::size_t leaks = 0;            // ... in different parts of the split
  std::vector<std::string> files;   // what was written, names relative to the folder
};

// The JSON-ish line a preprocessing spec takes: "mean": [0.5234, ...], "std": [...].
std::string spec_line(const EdaStats& stats);

Result<ReportCounts> write_eda_report(const std::string& folder, const data::Dataset& dataset, const EdaStats& stats,
                                      const ReportInput& input);

}  // namespace cellcam::eda
