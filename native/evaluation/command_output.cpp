// command_output.cpp — see command_output.h.
#include "command_output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace cellcam::train {

int fail(const char* command, const Error& e) {
  std::fprintf(stderr, "cellcam %s: %s\n", command, e.message.c_str());
  return 1;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string probability_text(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return buf;
}

// ROC-AUC is undefined (NaN; null in JSON) when the data holds a single class.
std::string metric_text(double v) {
  if (std::isnan(v)) return "n/a (needs samples of more than one class)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// A reliability diagram's points (the non-empty bins), labelled "<name> (ECE x)".
cellcam::report::Series reliability_series(const Calibration& c, const std::string& name) {
  cellcam::report::Series series;
  for (const CalibrationBin& b : c.bins) {
    if (b.count == 0) continue;
    series.x.push_back(b.confidence);
    series.y.push_back(b.accuracy);
  }
  char ece[32];
  std::snprintf(ece, sizeof ece, "%.3f", c.ece);
  series.label = name + " (ECE " + ece + ")";
  return series;
}

std::string confusion_text(const Metrics& m, const std::vector<std::string>& classes) {
  std::size_t width = 9;  // "predicted"
  for (const std::string& c : classes) width = std::max(width, c.size());
  for (long long n : m.confusion.counts) width = std::max(width, std::to_string(n).size());
  auto pad = [&](const std::string& s) { return std::string(width - std::min(width, s.size()), ' ') + s; };
  std::ostringstream out;
  out << "confusion matrix (rows: true class, columns: predicted)\n  " << std::string(width, ' ');
  for (const std::string& c : classes) out << "  " << pad(c);
  out << '\n';
  for (int t = 0; t < static_cast<int>(classes.size()); ++t) {
    out << "  " << classes[t] << std::string(width - std::min(width, classes[t].size()), ' ');
    for (int p = 0; p < static_cast<int>(classes.size()); ++p) out << "  " << pad(std::to_string(m.confusion.at(t, p)));
    out << '\n';
  }
  return out.str();
}

}  // namespace cellcam::train
