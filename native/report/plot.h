// plot.h — figures for the training report (loss/accuracy curves, ROC curves, confusion matrices),
// drawn by cellcam itself into an RGB raster and written as PNG.
//
// Constraints: no plotting library is available (no matplotlib, no gnuplot), so this is a small raster
// renderer in pure C++17: stb_easy_font for text (its quads are rasterised here), and PNG files through
// the native build's one PNG writer (io/png_writer.h). No function throws or aborts; failures are
// cellcam::Result errors.
//
// Basic usage:
//   using namespace cellcam::report;
//   LineChart c{"Loss", "epoch", "loss", {Series{"train", epochs, loss}}};
//   Result<Raster> r = render_line_chart(c);
//   if (r) write_png(r.value(), "loss.png");
//
// Coordinates: pixel (x, y) is the unit square centred on (x, y), y grows downwards. Drawing outside the
// raster is clipped, never an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::report {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
  friend bool operator!=(Rgb a, Rgb b) { return !(a == b); }
};

// The figure colours: white paper, dark grey ink, light grey grid.
inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kInk{40, 40, 40};
inline constexpr Rgb kGrid{225, 225, 225};

// Okabe–Ito, reordered so the first colours are the most distinct on white (yellow last).
Rgb palette_colour(std::size_t index);

// An 8-bit RGB image, rows top to bottom, 3 bytes a pixel.
struct Raster {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;

  Raster() = default;
  Raster(int w, int h, Rgb fill = kWhite);  // negative sizes are taken as 0

  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }
  Rgb at(int x, int y) const;                        // (0,0,0) outside
  void set(int x, int y, Rgb c);                     // ignored outside
  void blend(int x, int y, Rgb c, double coverage);  // coverage in [0, 1]; ignored outside
};

// ---- drawing primitives ----------------------------------------------------------------------------

void fill_rect(Raster& r, int x, int y, int w, int h, Rgb c);
void stroke_rect(Raster& r, int x, int y, int w, int h, Rgb c, int thickness = 1);

// Anti-aliased line with round caps; `width` in pixels (1 to 2 for plot lines).
void draw_line(Raster& r, double x0, double y0, double x1, double y1, Rgb c, double width = 1.0);
// Dashes of `dash` px separated by `gap` px along the line.
void draw_dashed_line(Raster& r, double x0, double y0, double x1, double y1, Rgb c, double width = 1.0,
                      double dash = 8.0, double gap = 6.0);

struct Point {
  double x = 0, y = 0;
};
struct ClipRect {
  int x = 0, y = 0, w = 0, h = 0;
};
// Joined polyline, anti-aliased as one shape: joints are not darkened where segments overlap.
// Nothing is drawn outside `clip` when given.
void draw_polyline(Raster& r, const std::vector<Point>& points, Rgb c, double width,
                   std::optional<ClipRect> clip = std::nullopt);
void fill_circle(Raster& r, double cx, double cy, double radius, Rgb c);

// ---- text (stb_easy_font: ASCII; other bytes are drawn as '?') --------------------------------------

enum class HAlign { kLeft, kCenter, kRight };
enum class VAlign { kTop, kMiddle, kBottom };  // kMiddle centres the capital letters

struct TextSize {
  int width = 0;   // ink width
  int height = 0;  // capitals plus descenders
};
// `scale` 2 is the body size (14 px capitals); fractional scales are anti-aliased.
TextSize measure_text(const std::string& text, double scale = 2.0);
// Draws `text` anchored at (x, y) according to the alignment.
void draw_text(Raster& r, int x, int y, const std::string& text, Rgb c, double scale = 2.0, HAlign h = HAlign::kLeft,
               VAlign v = VAlign::kTop);
// The same text turned 90° counter-clockwise (reads bottom to top), e.g. a y-axis label. The alignment
// applies to the turned box: kCenter/kMiddle centre it on (x, y).
void draw_text_rotated(Raster& r, int x, int y, const std::string& text, Rgb c, double scale = 2.0,
                       HAlign h = HAlign::kCenter, VAlign v = VAlign::kMiddle);

// ---- axes --------------------------------------------------------------------------------------------

// Tick values at a 1-2-5 step inside [lo, hi] (ends included when they fall on a step), at most
// `max_intervals` steps apart end to end: 0..1 -> 0, 0.2, ..., 1; 0..37 -> 0, 10, 20, 30.
std::vector<double> nice_ticks(double lo, double hi, int max_intervals = 5);
// The 1-2-5 step nice_ticks() uses for [lo, hi].
double nice_step(double lo, double hi, int max_intervals = 5);
// Tick label with as many decimals as the step needs: step 0.2 -> "0.4", step 0.005 -> "0.515".
std::string format_tick(double value, double step);

// ---- charts ------------------------------------------------------------------------------------------

struct Series {
  std::string label;
  std::vector<double> x, y;   // same length; NaN or infinite points are skipped (the line breaks there)
  std::optional<Rgb> colour;  // default: palette_colour(index in the chart)
  bool dashed = false;
  bool points_only = false;   // a scatter: markers at every finite point, no line (kMaxMarkedPoints ignored)
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::optional<double> y_min, y_max;  // fixed y-axis ends; unset ends follow the data
  std::optional<double> x_min, x_max;
  bool diagonal = false;  // dashed grey y = x line, for ROC
  bool markers = true;    // dots at the points, when a series has few enough of them
  std::string diagonal_label = "chance";
};

// Errors (kInvalidArgument): no series, an empty series, x/y of different lengths, a series with no
// finite point, y_min >= y_max, or a size too small for the margins (under 320 x 240) or over 8000 px.
Result<Raster> render_line_chart(const LineChart& chart, int width = 800, int height = 560);

struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> labels;
  std::vector<long long> counts;  // n x n, row-major, rows = true class, columns = predicted class
};

// Cells shaded by the row-normalised value (white to blue) and labelled with count and row percentage.
// Errors (kInvalidArgument): no labels, counts not n x n, a negative count, a size out of range.
Result<Raster> render_confusion_matrix(const Heatmap& heatmap, int width = 720, int height = 720);

// ---- output ------------------------------------------------------------------------------------------

// A raster through native::encode_png / native::write_png (io/png_writer.h), after checking its size.
// write_png writes through `path + ".tmp"` and renames, so a reader never sees half a file.
Result<std::vector<std::uint8_t>> encode_png(const Raster& raster);
Result<bool> write_png(const Raster& raster, const std::string& path);

// Loss (left) and accuracy (right) against epoch, train and validation, in one 1400x520 PNG (the loss
// alone, 800x560, when both accuracy vectors are empty). Every non-empty vector must have epochs.size()
// values; an empty or all-NaN vector other than train_loss is left out. A NaN is a skipped epoch.
Result<bool> plot_training_curves(const std::string& path, const std::vector<double>& epochs,
                                  const std::vector<double>& train_loss, const std::vector<double>& val_loss,
                                  const std::vector<double>& train_acc, const std::vector<double>& val_acc);
// One curve per series (x = false positive rate, y = true positive rate; put the AUC in the label).
Result<bool> plot_roc(const std::string& path, std::vector<Series> curves);
Result<bool> plot_confusion(const std::string& path, const std::vector<std::string>& labels,
                            const std::vector<long long>& counts);
// Observed accuracy against mean confidence per bin (one series per model; put the ECE in the label),
// with the diagonal of perfect calibration.
Result<bool> plot_reliability(const std::string& path, const std::vector<Series>& curves);
// Accuracy on the images kept against the share referred to a person, the least certain first (x in
// [0,1] as a share; one series per model or split).
Result<bool> plot_referral(const std::string& path, const std::vector<Series>& curves);

}  // namespace cellcam::report
