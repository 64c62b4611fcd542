// eda_charts.cpp — bar charts, histograms and tile grids for the EDA report (eda_charts.h).
#include "eda_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cellcam::eda {

using report::HAlign;
using report::kGrid;
using report::kInk;
using report::kWhite;
using report::Raster;
using report::Rgb;
using report::VAlign;

namespace {

std::string format_value(double v) {
  char buf[64];
  if (std::fabs(v - std::round(v)) < 1e-9) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

// ---- bar chart ---------------------------------------------------------------------------------------

Result<Raster> render_bar_chart(const BarChart& chart, int width, int height) {
  const std::size_t n = chart.values.size();
  if (n == 0 || chart.labels.size() != n) return make_error(ErrorCode::kInvalidArgument, "bar chart: no bars or labels");
  if (width < 320 || height < 240 || width > 8000 || height > 8000)
    return make_error(ErrorCode::kInvalidArgument, "bar chart: size out of range");
  Raster r(width, height);
  const int left = 80, right = 20, top = 50, bottom = 70;
  const int pw = width - left - right, ph = height - top - bottom;
  report::draw_text(r, width / 2, 14, chart.title, kInk, 2.0, HAlign::kCenter, VAlign::kTop);
  double vmax = 0;
  for (double v : chart.values) vmax = std::max(vmax, std::isfinite(v) ? v : 0.0);
  if (vmax <= 0) vmax = 1;
  const std::vector<double> ticks = report::nice_ticks(0, vmax * 1.08, 5);
  const double ytop = std::max(vmax * 1.08, ticks.empty() ? vmax : ticks.back());
  const double step = report::nice_step(0, vmax * 1.08, 5);
  auto ypix = [&](double v) { return top + ph - v / ytop * ph; };
  for (double t : ticks) {
    const int y = static_cast<int>(std::lround(ypix(t)));
    report::fill_rect(r, left, y, pw, 1, kGrid);
    report::draw_text(r, left - 8, y, report::format_tick(t, step), kInk, 1.5, HAlign::kRight, VAlign::kMiddle);
  }
  report::draw_text_rotated(r, 16, top + ph / 2, chart.y_label, kInk, 1.5);
  report::draw_text(r, left + pw / 2, height - 8, chart.x_label, kInk, 1.5, HAlign::kCenter, VAlign::kBottom);
  const double slot = static_cast<double>(pw) / n;
  const int bar = std::clamp(static_cast<int>(slot * 0.8), 1, 120);
  // Label scale: the largest of 1.5 / 1.0 at which the widest label fits its slot; else every k-th.
  double scale = 1.5;
  int widest = 0;
  for (const std::string& l : chart.labels) widest = std::max(widest, report::measure_text(l, scale).width);
  if (widest > slot - 4) {
    scale = 1.0;
    widest = 0;
    for (const std::string& l : chart.labels) widest = std::max(widest, report::measure_text(l, scale).width);
  }
  const int every = std::max(1, static_cast<int>(std::ceil((widest + 6) / slot)));
  const bool values_fit = chart.value_labels && report::measure_text(format_value(vmax), 1.0).width < slot;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = std::isfinite(chart.values[i]) ? std::max(0.0, chart.values[i]) : 0.0;
    const int x = left + static_cast<int>(slot * i + (slot - bar) / 2);
    const int y = static_cast<int>(std::lround(ypix(v)));
    const Rgb c = chart.colours.empty() ? report::palette_colour(0) : chart.colours[i % chart.colours.size()];
    report::fill_rect(r, x, y, bar, top + ph - y, c);
    if (values_fit) report::draw_text(r, x + bar / 2, y - 4, format_value(v), kInk, 1.0, HAlign::kCenter, VAlign::kBottom);
    if (i % every == 0)
      report::draw_text(r, x + bar / 2, top + ph + 8, chart.labels[i], kInk, scale, HAlign::kCenter, VAlign::kTop);
  }
  report::fill_rect(r, left, top + ph, pw, 1, kInk);
  report::fill_rect(r, left, top, 1, ph, kInk);
  return r;
}

Result<Raster> render_histogram(const std::string& title, const std::string& x_label, const std::vector<double>& values,
                                int max_bins, int decimals, int width, int height, const std::string& y_label) {
  if (values.empty()) return make_error(ErrorCode::kInvalidArgument, "histogram: no values");
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  const double lo = *mn, hi = *mx;
  BarChart chart{title, x_label, y_label, {}, {}, true, {}};
  char buf[64];
  if (hi - lo <= 0) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, lo);
    chart.labels.push_back(buf);
    chart.values.push_back(static_cast<double>(values.size()));
    return render_bar_chart(chart, width, height);
  }
  // Bins no narrower than the labels' last decimal (so no two bars carry the same label); integer data
  // (decimals 0) over a small range: one bin per value.
  max_bins = std::max(1, max_bins);
  const double resolution = std::pow(10.0, -decimals);
  const double w = std::max((hi - lo) / max_bins, resolution);
  const int bins = std::clamp(static_cast<int>(std::floor((hi - lo) / w + 1e-9)) + 1, 1, max_bins);
  chart.values.assign(bins, 0.0);
  for (double v : values) {
    int b = static_cast<int>(std::floor((v - lo) / w));
    chart.values[std::clamp(b, 0, bins - 1)] += 1;
  }
  for (int b = 0; b < bins; ++b) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, lo + b * w);
    chart.labels.push_back(buf);
  }
  return render_bar_chart(chart, width, height);
}

Raster hstack(const std::vector<Raster>& parts, int gap) {
  int w = 0, h = 0;
  for (const Raster& p : parts) {
    w += p.width + (w > 0 ? gap : 0);
    h = std::max(h, p.height);
  }
  Raster out(w, h);
  int x0 = 0;
  for (const Raster& p : parts) {
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x) out.set(x0 + x, y, p.at(x, y));
    x0 += p.width + gap;
  }
  return out;
}

// ---- tile grids --------------------------------------------------------------------------------------

Result<Raster> render_tile_grid(const std::string& title, const std::vector<Tile>& tiles, int columns, int zoom,
                                const std::vector<std::string>& row_labels) {
  if (tiles.empty() || columns < 1 || zoom < 1) return make_error(ErrorCode::kInvalidArgument, "tile grid: no tiles");
  int side = 0;
  for (const Tile& t : tiles) side = std::max(side, t.size * zoom);
  const int rows = static_cast<int>((tiles.size() + columns - 1) / columns);
  int label_w = 0;
  for (const std::string& l : row_labels) label_w = std::max(label_w, report::measure_text(l, 1.5).width + 16);
  const int cap_h = 22, pad = 8, title_h = 40;
  const int width = label_w + columns * (side + pad) + pad;
  const int height = title_h + rows * (side + cap_h + pad) + pad;
  if (width > 8000 || height > 8000) return make_error(ErrorCode::kInvalidArgument, "tile grid: too large");
  Raster r(std::max(width, report::measure_text(title, 2.0).width + 60), height);
  report::draw_text(r, r.width / 2, 12, title, kInk, 2.0, HAlign::kCenter, VAlign::kTop);
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const Tile& t = tiles[i];
    const int row = static_cast<int>(i) / columns, col = static_cast<int>(i) % columns;
    const int x0 = label_w + pad + col * (side + pad);
    const int y0 = title_h + row * (side + cap_h + pad) + cap_h;
    if (!t.caption.empty()) report::draw_text(r, x0 + side / 2, y0 - 4, t.caption, kInk, 1.0, HAlign::kCenter, VAlign::kBottom);
    const int s = t.size * zoom;
    if (t.rgb.size() != static_cast<std::size_t>(t.size) * t.size * 3) {
      report::fill_rect(r, x0, y0, s, s, kGrid);
      report::draw_line(r, x0, y0, x0 + s, y0 + s, kInk);
      report::draw_line(r, x0 + s, y0, x0, y0 + s, kInk);
      continue;
    }
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        const std::uint8_t* p = t.rgb.data() + (static_cast<std::size_t>(y / zoom) * t.size + x / zoom) * 3;
        r.set(x0 + x, y0 + y, Rgb{p[0], p[1], p[2]});
      }
  }
  for (std::size_t i = 0; i < row_labels.size() && static_cast<int>(i) < rows; ++i)
    report::draw_text(r, label_w - 8, title_h + static_cast<int>(i) * (side + cap_h + pad) + cap_h + side / 2, row_labels[i],
                      kInk, 1.5, HAlign::kRight, VAlign::kMiddle);
  return r;
}

Rgb diverging_colour(double v) {
  v = std::clamp(std::isfinite(v) ? v : 0.0, -1.0, 1.0);
  // white -> (33, 102, 172) blue for v < 0, white -> (178, 24, 43) red for v > 0 (ColorBrewer RdBu ends).
  const double t = std::fabs(v);
  const Rgb end = v < 0 ? Rgb{33, 102, 172} : Rgb{178, 24, 43};
  auto mix = [&](int a) { return static_cast<std::uint8_t>(std::lround(255 + (a - 255) * t)); };
  return Rgb{mix(end.r), mix(end.g), mix(end.b)};
}

Raster diverging_legend(double limit, int width, const std::string& label) {
  Raster r(std::max(width, 200), 44);
  const int x0 = 60, w = r.width - 120;
  for (int x = 0; x < w; ++x) report::fill_rect(r, x0 + x, 4, 1, 16, diverging_colour(2.0 * x / (w - 1) - 1.0));
  report::stroke_rect(r, x0, 4, w, 16, kInk);
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%.3f", limit);
  report::draw_text(r, x0 - 6, 12, buf, kInk, 1.0, HAlign::kRight, VAlign::kMiddle);
  std::snprintf(buf, sizeof buf, "+%.3f", limit);
  report::draw_text(r, x0 + w + 6, 12, buf, kInk, 1.0, HAlign::kLeft, VAlign::kMiddle);
  report::draw_text(r, r.width / 2, 26, label, kInk, 1.0, HAlign::kCenter, VAlign::kTop);
  return r;
}

}  // namespace cellcam::eda
