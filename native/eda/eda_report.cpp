// eda_report.cpp — report.md, figures and CSVs of `cellcam eda` (eda_report.h).
#include "eda_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "eda_charts.h"
#include "file_io.h"
#include "split.h"

namespace cellcam::eda {
namespace {

using report::Raster;
using report::Rgb;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Markdown table cell: pipes escaped.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

const char* part_label(const ReportInput& in, int i) {
  if (in.part.empty()) return "";
  const int p = in.part[i];
  return p == 0 ? "train" : p == 1 ? "val" : p == 2 ? "test" : "none";
}

std::vector<std::uint8_t> float_tile(const std::vector<float>& v) {
  std::vector<std::uint8_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = static_cast<std::uint8_t>(std::lround(std::clamp(v[i], 0.0f, 1.0f) * 255.0f));
  return out;
}

// Gray difference (mean over channels of a - b) as diverging colours, scaled by `limit`.
std::vector<std::uint8_t> difference_tile(const std::vector<float>& a, const std::vector<float>& b, double limit) {
  std::vector<std::uint8_t> out(a.size());
  for (std::size_t i = 0; i + 2 < a.size(); i += 3) {
    const double d = ((a[i] - b[i]) + (a[i + 1] - b[i + 1]) + (a[i + 2] - b[i + 2])) / 3.0;
    const Rgb c = diverging_colour(d / limit);
    out[i] = c.r;
    out[i + 1] = c.g;
    out[i + 2] = c.b;
  }
  return out;
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i + 2 < a.size(); i += 3)
    m = std::max(m, std::fabs(((a[i] - b[i]) + (a[i + 1] - b[i + 1]) + (a[i + 2] - b[i + 2])) / 3.0));
  return m;
}

// A raster and a legend below it.
Raster vstack(const Raster& a, const Raster& b) {
  Raster out(std::max(a.width, b.width), a.height + b.height);
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) out.set(x, y, a.at(x, y));
  const int x0 = (out.width - b.width) / 2;
  for (int y = 0; y < b.height; ++y)
    for (int x = 0; x < b.width; ++x) out.set(x0 + x, a.height + y, b.at(x, y));
  return out;
}

struct Writer {
  std::string folder;
  ReportCounts* counts;
  Result<bool> png(const std::string& name, const Result<Raster>& r) {
    if (!r) return r.error();
    Result<bool> w = report::write_png(r.value(), folder + "/" + name);
    if (w) counts->files.push_back(name);
    return w;
  }
  Result<bool> text(const std::string& name, const std::string& s) {
    Result<bool> w = native::write_text_atomically(folder + "/" + name, s);
    if (w) counts->files.push_back(name);
    return w;
  }
};

}  // namespace

std::string spec_line(const EdaStats& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "\"mean\": [%.4f, %.4f, %.4f], \"std\": [%.4f, %.4f, %.4f]", s.mean[0], s.mean[1],
                s.mean[2], s.std[0], s.std[1], s.std[2]);
  return buf;
}

Result<ReportCounts> write_eda_report(const std::string& folder, const data::Dataset& ds, const EdaStats& st,
                                      const ReportInput& in) {
  ReportCounts counts;
  Writer w{folder, &counts};
  const std::size_t n = ds.samples.size(), k = ds.classes.size();
  std::ostringstream md;
  md << "# Exploratory data analysis: " << in.data << "\n\n";
  md << "Written by `cellcam eda`. " << n << " images listed, " << st.readable << " decoded, " << (n - st.readable)
     << " unreadable, " << ds.skipped.size() << " rows skipped by the dataset reader; " << k << " classes"
     << (ds.has_groups ? ", with groups (patients)" : ", no group column") << ". Done in " << fmt("%.1f", in.seconds)
     << " s on " << in.threads << " threads (loading, reading, decoding and hashing).\n\n";

  // ---- classes ----
  std::vector<std::size_t> per_class(k, 0), readable_class(k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    ++per_class[ds.samples[i].label];
    readable_class[ds.samples[i].label] += st.images[i].ok ? 1 : 0;
  }
  md << "## Classes\n\n| class | images | readable | share |\n|---|---:|---:|---:|\n";
  for (std::size_t c = 0; c < k; ++c)
    md << "| " << cell(ds.classes[c]) << " | " << per_class[c] << " | " << readable_class[c] << " | "
       << fmt("%.1f %%", n ? 100.0 * per_class[c] / n : 0.0) << " |\n";
  if (k > 0 && n > 0) {
    const auto [mn, mx] = std::minmax_element(per_class.begin(), per_class.end());
    md << "\nLargest to smallest class: " << fmt("%.2f", *mn ? static_cast<double>(*mx) / *mn : INFINITY) << " to 1.\n";
    BarChart chart{"Images per class", "class", "images", ds.classes, {}, true, {}};
    for (std::size_t c = 0; c < k; ++c) {
      chart.values.push_back(static_cast<double>(per_class[c]));
      chart.colours.push_back(report::palette_colour(c));
    }
    Result<bool> ok = w.png("class_balance.png", render_bar_chart(chart));
    if (!ok) return ok.error();
    md << "\n![class balance](class_balance.png)\n\n";
  }

  // ---- groups ----
  if (ds.has_groups) {
    std::map<std::string, std::vector<int>> groups;  // group -> samples
    for (std::size_t i = 0; i < n; ++i)
      if (!ds.samples[i].group.empty()) groups[ds.samples[i].group].push_back(static_cast<int>(i));
    std::vector<std::set<std::string>> class_groups(k);
    std::size_t mixed = 0;
    std::vector<double> sizes;
    for (const auto& [g, idx] : groups) {
      std::set<int> labels;
      for (int i : idx) {
        labels.insert(ds.samples[i].label);
        class_groups[ds.samples[i].label].insert(g);
      }
      mixed += labels.size() > 1 ? 1 : 0;
      sizes.push_back(static_cast<double>(idx.size()));
    }
    std::size_t ungrouped = 0;
    for (const auto& s : ds.samples) ungrouped += s.group.empty() ? 1 : 0;
    md << "## Groups (patients)\n\n" << groups.size() << " groups; " << mixed << " hold images of more than one class; "
       << ungrouped << " images have no group (each is its own group for a split).\n\n";
    md << "| class | groups | images per group: min | median | max |\n|---|---:|---:|---:|---:|\n";
    for (std::size_t c = 0; c < k; ++c) {
      std::vector<int> per;
      for (const std::string& g : class_groups[c]) {
        int m = 0;
        for (int i : groups[g]) m += ds.samples[i].label == static_cast<int>(c) ? 1 : 0;
        per.push_back(m);
      }
      std::sort(per.begin(), per.end());
      md << "| " << cell(ds.classes[c]) << " | " << per.size() << " | " << (per.empty() ? 0 : per.front()) << " | "
         << (per.empty() ? 0 : per[per.size() / 2]) << " | " << (per.empty() ? 0 : per.back()) << " |\n";
    }
    if (!sizes.empty()) {
      BarChart chart{"Groups per class", "class", "groups", ds.classes, {}, true, {}};
      for (std::size_t c = 0; c < k; ++c) {
        chart.values.push_back(static_cast<double>(class_groups[c].size()));
        chart.colours.push_back(report::palette_colour(c));
      }
      Result<Raster> a = render_bar_chart(chart, 600, 440);
      Result<Raster> b = render_histogram("Images per group", "images in the group (bin start)", sizes, 30, 0, 800, 440, "groups");
      if (!a) return a.error();
      if (!b) return b.error();
      Result<bool> ok = w.png("groups.png", hstack({a.value(), b.value()}));
      if (!ok) return ok.error();
      md << "\n![groups](groups.png)\n";
    }
    md << "\n";
  }

  // ---- sizes ----
  std::vector<double> widths, heights, aspects;
  std::map<std::string, std::size_t> layouts;
  for (const ImageInfo& im : st.images)
    if (im.ok) {
      widths.push_back(im.width);
      heights.push_back(im.height);
      aspects.push_back(static_cast<double>(im.width) / im.height);
      ++layouts[std::to_string(im.width) + " x " + std::to_string(im.height) + " | " + std::to_string(im.channels) +
                " | " + std::to_string(im.bits)];
    }
  md << "## Image sizes\n\n";
  if (!widths.empty()) {
    std::vector<std::pair<std::size_t, std::string>> top;
    for (const auto& [l, c] : layouts) top.push_back({c, l});
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    const auto [wmin, wmax] = std::minmax_element(widths.begin(), widths.end());
    const auto [hmin, hmax] = std::minmax_element(heights.begin(), heights.end());
    const auto [amin, amax] = std::minmax_element(aspects.begin(), aspects.end());
    md << layouts.size() << " distinct layouts. Width " << *wmin << " to " << *wmax << " px, height " << *hmin << " to "
       << *hmax << " px, aspect ratio (width / height) " << fmt("%.3f", *amin) << " to " << fmt("%.3f", *amax) << ".\n\n";
    md << "| width x height | channels | bits | images |\n|---|---:|---:|---:|\n";
    for (std::size_t i = 0; i < top.size() && i < 10; ++i) md << "| " << top[i].second << " | " << top[i].first << " |\n";
    if (top.size() > 10) md << "| (" << top.size() - 10 << " more) | | | |\n";
    Result<Raster> a = render_histogram("Width", "pixels (bin start)", widths, 25, 0, 600, 420);
    Result<Raster> b = render_histogram("Height", "pixels (bin start)", heights, 25, 0, 600, 420);
    Result<Raster> c = render_histogram("Aspect ratio", "width / height (bin start)", aspects, 20, 3, 600, 420);
    if (!a) return a.error();
    if (!b) return b.error();
    if (!c) return c.error();
    Result<bool> ok = w.png("sizes.png", hstack({a.value(), b.value(), c.value()}));
    if (!ok) return ok.error();
    md << "\n![sizes](sizes.png)\n\n";
  } else {
    md << "No image could be decoded.\n\n";
  }

  // ---- colour ----
  md << "## Per-channel mean and standard deviation\n\nOver all " << st.pixels
     << " pixels of the decoded images, values in [0, 1] (gray images count as R = G = B; alpha is ignored), "
        "population standard deviation. For a preprocessing spec:\n\n```\n"
     << spec_line(st) << "\n```\n\n";

  // ---- class means ----
  if (st.readable > 0 && k > 0) {
    std::vector<Tile> tiles;
    for (std::size_t c = 0; c < k; ++c)
      tiles.push_back({ds.classes[c] + " (" + std::to_string(st.class_mean_count[c]) + ")", st.mean_size,
                       st.class_mean_count[c] ? float_tile(st.class_mean[c]) : std::vector<std::uint8_t>{}});
    const int zoom = std::max(1, 192 / st.mean_size);
    Result<bool> ok = w.png("class_means.png",
                            render_tile_grid("Mean image per class (" + std::to_string(st.mean_size) + " x " +
                                                 std::to_string(st.mean_size) + ", every image stretched)",
                                             tiles, std::min<int>(4, static_cast<int>(k)), zoom));
    if (!ok) return ok.error();
    md << "## Class means\n\nEvery decoded image stretched to " << st.mean_size << " x " << st.mean_size
       << " (the shared resize, triangle filter) and averaged per class.\n\n![class means](class_means.png)\n\n";
    std::vector<Tile> diff;
    std::string title, caption;
    double limit = 0;
    std::vector<std::size_t> present;
    for (std::size_t c = 0; c < k; ++c)
      if (st.class_mean_count[c]) present.push_back(c);
    if (present.size() == 2) {
      const std::vector<float>& a = st.class_mean[present[1]];
      const std::vector<float>& b = st.class_mean[present[0]];
      limit = std::max(1e-6, max_abs_difference(a, b));
      title = "mean(" + ds.classes[present[1]] + ") - mean(" + ds.classes[present[0]] + ")";
      diff.push_back({"", st.mean_size, difference_tile(a, b, limit)});
      caption = "The gray-level difference (mean over R, G, B) of the two class means: red where " +
                ds.classes[present[1]] + " is brighter, blue where " + ds.classes[present[0]] + " is.";
    } else if (present.size() > 2) {
      std::vector<float> overall(st.class_mean[present[0]].size(), 0.0f);
      std::size_t total = 0;
      for (std::size_t c : present) total += st.class_mean_count[c];
      for (std::size_t c : present)
        for (std::size_t j = 0; j < overall.size(); ++j)
          overall[j] += st.class_mean[c][j] * static_cast<float>(st.class_mean_count[c]) / static_cast<float>(total);
      for (std::size_t c : present) limit = std::max(limit, max_abs_difference(st.class_mean[c], overall));
      limit = std::max(limit, 1e-6);
      for (std::size_t c : present) diff.push_back({ds.classes[c], st.mean_size, difference_tile(st.class_mean[c], overall, limit)});
      title = "Class mean - overall mean";
      caption = "Each class mean minus the mean of all images (gray level, mean over R, G, B): red where the class is "
                "brighter than the average image, blue where it is darker; one colour scale for all tiles.";
    }
    if (!diff.empty()) {
      Result<Raster> grid = render_tile_grid(title, diff, std::min<int>(4, static_cast<int>(diff.size())), zoom);
      if (!grid) return grid.error();
      Result<bool> ok2 = w.png("class_difference.png",
                               vstack(grid.value(), diverging_legend(limit, std::max(320, std::min(grid.value().width, 600)),
                                                                     "difference of gray level in [0, 1]")));
      if (!ok2) return ok2.error();
      md << caption << " The colour scale ends at +/-" << fmt("%.4f", limit)
         << " (the largest difference).\n\n![class difference](class_difference.png)\n\n";
    }
  }

  // ---- samples ----
  {
    std::vector<Tile> tiles;
    std::vector<std::string> rows;
    int columns = 0;
    for (const auto& t : st.thumbs) columns = std::max(columns, static_cast<int>(t.size()));
    for (std::size_t c = 0; c < k && columns > 0; ++c) {
      rows.push_back(ds.classes[c]);
      for (int j = 0; j < columns; ++j) {
        if (j < static_cast<int>(st.thumbs[c].size())) {
          const auto& [idx, px] = st.thumbs[c][j];
          tiles.push_back({"#" + std::to_string(idx), st.thumb_size, px});
        } else {
          tiles.push_back({"", st.thumb_size, std::vector<std::uint8_t>(static_cast<std::size_t>(st.thumb_size) * st.thumb_size * 3, 255)});
        }
      }
    }
    if (!tiles.empty()) {
      Result<bool> ok = w.png("samples.png", render_tile_grid("Random samples per class (stretched to " +
                                                                  std::to_string(st.thumb_size) + " px; #sample index)",
                                                              tiles, columns, 1, rows));
      if (!ok) return ok.error();
      md << "## Random samples\n\nSeeded; a crossed tile could not be decoded. The number above each tile is the "
            "sample's row in the dataset (0-based, the order `cellcam split` uses).\n\n![samples](samples.png)\n\n";
    }
  }

  // ---- duplicates ----
  std::ostringstream csv;
  csv << "kind,distance,difference,path_a,path_b,label_a,label_b,group_a,group_b,part_a,part_b,different_label,different_group,leak\n";
  std::vector<std::string> examples;
  std::size_t exact_diff = 0;
  for (const DuplicatePair& p : st.pairs) {
    const data::Sample& a = ds.samples[p.a];
    const data::Sample& b = ds.samples[p.b];
    const bool dl = a.label != b.label;
    const bool dg = !a.group.empty() && !b.group.empty() && a.group != b.group;
    const bool leak = !in.part.empty() && in.part[p.a] >= 0 && in.part[p.b] >= 0 && in.part[p.a] != in.part[p.b];
    counts.different_label += dl;
    counts.different_group += dg;
    counts.leaks += leak;
    exact_diff += p.exact && dl;
    csv << (p.exact ? "exact" : "near") << ',' << p.distance << ',' << fmt("%.4f", p.difference) << ','
        << data::csv_field(a.path) << ','
        << data::csv_field(b.path) << ',' << data::csv_field(ds.classes[a.label]) << ','
        << data::csv_field(ds.classes[b.label]) << ',' << data::csv_field(a.group) << ',' << data::csv_field(b.group)
        << ',' << part_label(in, p.a) << ',' << part_label(in, p.b) << ',' << (dl ? 1 : 0) << ',' << (dg ? 1 : 0) << ','
        << (leak ? 1 : 0) << '\n';
    if (examples.size() < 20)
      examples.push_back("| " + std::string(p.exact ? "exact" : "near") + " | " + std::to_string(p.distance) + " | " +
                         fmt("%.4f", p.difference) + " | " +
                         cell(a.path) + " | " + cell(b.path) + " | " + cell(ds.classes[a.label]) + " / " +
                         cell(ds.classes[b.label]) + (dl ? " **differ**" : "") + " |" +
                         (ds.has_groups ? " " + cell(a.group) + " / " + cell(b.group) + " |" : "") +
                         (in.part.empty() ? "" : std::string(" ") + part_label(in, p.a) + " / " + part_label(in, p.b) +
                                                     (leak ? " **leak**" : "") + " |"));
  }
  Result<bool> dup_ok = w.text("duplicates.csv", csv.str());
  if (!dup_ok) return dup_ok.error();
  md << "## Duplicates\n\nExact: files with the same SHA-256 of their bytes. Near: 64-bit difference hashes (dHash: "
        "the image in gray, resized to 9 x 8, one bit per pair of horizontal neighbours, set when the right one is "
        "brighter; and the same vertically on 8 x 9) that differ in at most "
     << st.near_threshold
     << " of 64 bits in both directions (the distance column is the larger of the two), exact duplicates excluded; "
        "then confirmed on pixels: both images as 16 x 16 gray, each minus its own mean, must differ by at most "
     << fmt("%.3f", st.near_tolerance)
     << " on average (the difference column). dHash ignores a uniform change of brightness and small rescaling or "
        "re-encoding, but images with little structure (flat, or one round cell on a dark background) hash alike: "
        "the pixel check removes those lookalikes.\n\n";
  md << "- exact duplicate pairs: " << st.exact_pairs << " (" << exact_diff << " with different labels)\n";
  md << "- near duplicate pairs: " << st.near_pairs << " (of " << st.hash_candidates
     << " pairs the hashes proposed)\n";
  md << "- pairs (either kind) with different labels: " << counts.different_label << "\n";
  if (ds.has_groups) md << "- pairs across different groups (a group-wise split can put them in different parts): " << counts.different_group << "\n";
  if (!in.part.empty())
    md << "- pairs in different parts of " << in.split << " (a leak between train, val and test): " << counts.leaks << "\n";
  else
    md << "- leaks: no split given (`--split split.csv` checks one written by `cellcam split`)\n";
  if (st.pairs.size() < st.exact_pairs + st.near_pairs)
    md << "- only the first " << st.pairs.size() << " pairs are listed in duplicates.csv and counted above by label, group and part\n";
  if (!examples.empty()) {
    md << "\nFirst " << examples.size() << " of them (all in duplicates.csv):\n\n| kind | distance | difference | a | b | labels |"
       << (ds.has_groups ? " groups |" : "") << (in.part.empty() ? "" : " parts |") << "\n|---|---:|---:|---|---|---|"
       << (ds.has_groups ? "---|" : "") << (in.part.empty() ? "" : "---|") << "\n";
    for (const std::string& e : examples) md << e << "\n";
  }
  md << "\n";

  // ---- unreadable ----
  std::ostringstream bad;
  bad << "path,error\n";
  std::size_t nbad = 0;
  md << "## Unreadable files\n\n";
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < n; ++i)
    if (!st.images[i].ok) {
      ++nbad;
      bad << data::csv_field(ds.samples[i].path) << ',' << data::csv_field(st.images[i].error) << '\n';
      if (rows.size() < 20) rows.push_back("| " + cell(ds.samples[i].path) + " | " + cell(st.images[i].error) + " |");
    }
  for (const data::Skipped& s : ds.skipped) {
    ++nbad;
    bad << data::csv_field(s.path) << ',' << data::csv_field("skipped by the dataset reader: " + s.reason) << '\n';
    if (rows.size() < 20) rows.push_back("| " + cell(s.path) + " | skipped: " + cell(s.reason) + " |");
  }
  Result<bool> bad_ok = w.text("unreadable.csv", bad.str());
  if (!bad_ok) return bad_ok.error();
  md << nbad << " (unreadable.csv).\n";
  if (!rows.empty()) {
    md << "\n| file | error |\n|---|---|\n";
    for (const std::string& r : rows) md << r << "\n";
  }
  Result<bool> ok = w.text("report.md", md.str());
  if (!ok) return ok.error();
  return counts;
}

}  // namespace cellcam::eda
