// eda_charts.h — the figures of the EDA report that report/plot.h has no chart for: bar charts (class
// balance), histograms (image sizes, images per group) and grids of image tiles (class means, their
// differences, random samples), drawn into report::Raster with plot.h's primitives.
// No function throws; a size out of range or empty data is a kInvalidArgument error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "plot.h"

namespace cellcam::eda {

struct BarChart {
  std::string title, x_label, y_label;
  std::vector<std::string> labels;  // one per bar, drawn under it (every k-th when crowded)
  std::vector<double> values;       // >= 0
  bool value_labels = true;         // the value above each bar (when there is room)
  std::vector<report::Rgb> colours; // per bar; empty: palette_colour(0) for all
};
Result<report::Raster> render_bar_chart(const BarChart& chart, int width = 800, int height = 480);

// Histogram of `values` in at most `max_bins` equal bins between their min and max (one bar when all
// are equal); bars labelled with the bin's lower edge, `decimals` after the point.
Result<report::Raster> render_histogram(const std::string& title, const std::string& x_label,
                                        const std::vector<double>& values, int max_bins, int decimals,
                                        int width = 800, int height = 480, const std::string& y_label = "images");

// Several rasters side by side (tops aligned) on white, `gap` pixels apart.
report::Raster hstack(const std::vector<report::Raster>& parts, int gap = 10);

struct Tile {
  std::string caption;               // drawn above the tile
  int size = 0;                      // side of the square in pixels
  std::vector<std::uint8_t> rgb;     // size x size x 3; empty: a grey cross ("unreadable")
};
// A grid of tiles, `columns` a row, each scaled by `zoom` (nearest neighbour), optional row labels at
// the left (one per row), and a title on top.
Result<report::Raster> render_tile_grid(const std::string& title, const std::vector<Tile>& tiles, int columns, int zoom,
                                        const std::vector<std::string>& row_labels = {});

// Diverging colour for v in [-1, 1]: blue (-1), white (0), red (+1).
report::Rgb diverging_colour(double v);
// A horizontal colour bar from -limit (blue) to +limit (red) with its end labels, width x 40.
report::Raster diverging_legend(double limit, int width, const std::string& label);

}  // namespace cellcam::eda
