// eda.h — `cellcam eda DATA [--out DIR]`: exploratory data analysis of a dataset in any layout cellcam
// reads (dataset.h): class balance, groups, image sizes, per-channel mean/std, class mean images and
// their differences, random samples, exact and near duplicates (and leaks across a split), unreadable
// files. Writes DIR/report.md with PNG figures, duplicates.csv and unreadable.csv.
//
// Exit codes: 0 done (unreadable files are rows, not failures), 1 a bad DATA path, split file or option,
// or an existing report without --force.
#pragma once

#include <cstdint>
#include <string>

namespace cellcam::eda {

struct EdaSettings {
  std::string data;
  std::string out = "eda";
  std::string split;          // optional split.csv (`cellcam split`): duplicate pairs across parts are leaks
  int samples = 8;            // random samples per class in samples.png
  int mean_size = 64;         // side of the class mean images
  int near_threshold = 4;     // dHash Hamming distance of a near duplicate
  double near_tolerance = 0.01;  // and the largest mean difference of its 16x16 gray thumbnails
  int threads = 0;            // 0: all cores
  std::uint64_t seed = 42;
  bool force = false;         // replace an existing report in --out
  bool progress = true;       // the progress bar on stderr
};

int run_eda(const EdaSettings& settings);

}  // namespace cellcam::eda
