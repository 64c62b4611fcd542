// tune_report.cpp — report.md, best.toml, objective.png and one param-<name>.png per searched parameter.
#include "tune_report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "file_io.h"
#include "plot.h"
#include "toml_value.h"

namespace cellcam::tune {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

// Objective per trial (dots: complete, hollow ring colour for pruned) and the best so far.
Result<bool> plot_objective(const ReportContext& c, const std::vector<Trial>& trials) {
  report::Series complete, pruned, best;
  complete.label = "complete";
  pruned.label = "pruned";
  best.label = "best so far";
  complete.points_only = pruned.points_only = true;
  double best_value = NAN;
  for (const Trial& t : trials) {
    if (!std::isfinite(t.objective) || t.status == TrialStatus::kFailed) continue;
    (t.status == TrialStatus::kComplete ? complete : pruned).x.push_back(t.number);
    (t.status == TrialStatus::kComplete ? complete : pruned).y.push_back(t.objective);
    if (t.status == TrialStatus::kComplete &&
        (!std::isfinite(best_value) || (c.maximize ? t.objective > best_value : t.objective < best_value)))
      best_value = t.objective;
    best.x.push_back(t.number);
    best.y.push_back(best_value);
  }
  report::LineChart chart;
  chart.title = c.method + " search: " + c.objective + " per trial";
  chart.x_label = "trial";
  chart.y_label = c.objective;
  for (report::Series* s : {&best, &complete, &pruned})  // the line first, so the trials' points stay visible on it
    if (!s->x.empty()) chart.series.push_back(*s);
  if (chart.series.empty()) return false;
  Result<report::Raster> r = report::render_line_chart(chart);
  if (!r) return r.error();
  return report::write_png(r.value(), (fs::path(c.out) / "objective.png").string());
}

// The objective against one parameter: log10 of a log-uniform value, the index of a choice.
Result<bool> plot_param(const ReportContext& c, const Param& p, const std::vector<Trial>& trials, std::string& file) {
  report::Series s;
  s.points_only = true;
  for (const Trial& t : trials) {
    if (t.status != TrialStatus::kComplete || !t.params.contains(p.name)) continue;
    const json& v = t.params[p.name];
    double x = 0.0;
    if (p.kind == ParamKind::kChoice) x = std::floor(to_unit(p, v) * static_cast<double>(p.choices.size()));
    else x = p.kind == ParamKind::kLogUniform ? std::log10(v.get<double>()) : v.get<double>();
    s.x.push_back(x);
    s.y.push_back(t.objective);
  }
  if (s.x.empty()) return false;
  std::string x_label = p.kind == ParamKind::kLogUniform ? "log10(" + p.name + ")" : p.name;
  if (p.kind == ParamKind::kChoice) {
    x_label += ":";
    for (std::size_t i = 0; i < p.choices.size(); ++i) x_label += " " + std::to_string(i) + "=" + value_text(p.choices[i]);
  }
  report::LineChart chart;
  chart.title = p.name + " against " + c.objective;
  chart.x_label = x_label;
  chart.y_label = c.objective;
  chart.series = {s};
  if (p.kind == ParamKind::kChoice) {
    chart.x_min = -0.5;
    chart.x_max = static_cast<double>(p.choices.size()) - 0.5;
  }
  Result<report::Raster> r = report::render_line_chart(chart, 640, 420);
  if (!r) return r.error();
  file = "param-" + p.name + ".png";
  return report::write_png(r.value(), (fs::path(c.out) / file).string());
}

void table(std::ostringstream& md, const SearchSpace& space, const std::vector<Trial>& trials, int best) {
  const std::vector<const Param*> searched = space.searched();
  md << "| trial | status | objective | epochs | minutes |";
  for (const Param* p : searched) md << " " << p->name << " |";
  md << "\n|---|---|---|---|---|";
  for (std::size_t i = 0; i < searched.size(); ++i) md << "---|";
  md << "\n";
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    md << "| " << t.number << (static_cast<int>(i) == best ? " **best**" : "") << " | " << trial_status_name(t.status)
       << (t.error.empty() ? "" : " (" + t.error.substr(0, 80) + ")") << " | " << fixed(t.objective, 4) << " | "
       << t.curve.size() << " | " << fixed(t.seconds / 60.0, 1) << " |";
    for (const Param* p : searched) md << " " << (t.params.contains(p->name) ? value_text(t.params[p->name]) : "-") << " |";
    md << "\n";
  }
}

}  // namespace

int best_trial(const std::vector<Trial>& trials, bool maximize) {
  int best = -1;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    if (t.status != TrialStatus::kComplete || !std::isfinite(t.objective)) continue;
    if (best < 0 || (maximize ? t.objective > trials[best].objective : t.objective < trials[best].objective))
      best = static_cast<int>(i);
  }
  return best;
}

std::string config_toml(const json& params, const std::string& comment) {
  std::ostringstream out;
  out << "# " << comment << "\n";
  for (const auto& [name, v] : params.items()) out << name << " = " << native::toml_value(v) << "\n";
  return out.str();
}

// The best trial's options plus what tune set on its command line (seed, monitor), so the file alone
// reproduces the trial's run: the same split, the same checkpoint rule.
static json best_config(const ReportContext& c, const Trial& b) {
  json config = b.params;
  if (!config.contains("seed")) config["seed"] = c.seed;
  if (!config.contains("monitor")) config["monitor"] = c.objective;
  return config;
}

Result<bool> write_tune_report(const ReportContext& c, const SearchSpace& space, const std::vector<Trial>& trials) {
  const int best = best_trial(trials, c.maximize);
  std::ostringstream md;
  md << "# Hyper-parameter search\n\n"
     << "- data: `" << c.data << "`\n- method: " << c.method << "; objective: " << c.objective << " ("
     << (c.maximize ? "higher" : "lower") << " is better; the best over a trial's epochs"
     << (c.folds >= 2 ? ", mean over " + std::to_string(c.folds) + " folds" : std::string(", validation part")) << ")\n"
     << "- seed " << c.seed << " for every trial, so every trial has the same split; the test part is never read\n"
     << "- budget: " << (c.budget_minutes > 0 ? fixed(c.budget_minutes, 0) + " minutes" : std::string("none")) << "\n";
  int complete = 0, pruned = 0, failed = 0;
  double seconds = 0.0;
  for (const Trial& t : trials) {
    complete += t.status == TrialStatus::kComplete;
    pruned += t.status == TrialStatus::kPruned;
    failed += t.status == TrialStatus::kFailed;
    seconds += t.seconds;
  }
  md << "- trials: " << trials.size() << " (" << complete << " complete, " << pruned << " stopped early by the median rule, "
     << failed << " failed), " << fixed(seconds / 60.0, 1) << " minutes of training\n\n";
  if (best >= 0) {
    const Trial& b = trials[best];
    const std::string run = (fs::path(c.out) / "trials" / ("trial-" + std::to_string(b.number))).string();
    md << "## Best: trial " << b.number << ", " << c.objective << " " << fixed(b.objective, 4) << "\n\n```\n"
       << config_toml(best_config(c, b), "best.toml") << "```\n\nReproduce: `cellcam train " << c.data << " --config "
       << (fs::path(c.out) / "best.toml").string() << "`; export its run: `cellcam export " << run << " --out models/NAME`.\n\n";
    Result<bool> w = native::write_text_atomically(
        (fs::path(c.out) / "best.toml").string(),
        config_toml(best_config(c, b), "cellcam tune: trial " + std::to_string(b.number) + ", " + c.objective + " " + fixed(b.objective, 4)));
    if (!w) return w;
  }
  Result<bool> plotted = plot_objective(c, trials);
  if (!plotted) return plotted;
  if (plotted.value()) md << "![objective per trial](objective.png)\n\n";
  md << "## Trials\n\n";
  table(md, space, trials, best);
  md << "\n## Each parameter against the objective (complete trials)\n\n";
  for (const Param* p : space.searched()) {
    std::string file;
    Result<bool> r = plot_param(c, *p, trials, file);
    if (!r) return r;
    if (r.value()) md << "![" << p->name << "](" << file << ")\n";
  }
  return native::write_text_atomically((fs::path(c.out) / "report.md").string(), md.str());
}

}  // namespace cellcam::tune
