// test_plot.cpp — the report's raster plotting: primitives put pixels where they should, text inks
// inside its box, axis ticks follow 1-2-5 steps, bad input is an error, PNGs decode again.
//
// It also writes three sample figures (training curves, ROC, confusion matrix) for a person to look at:
// into $CELLCAM_PLOT_SAMPLES when set, otherwise <temp dir>/plot-samples (/tmp/plot-samples).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "cellcam/decode.h"
#include "plot.h"

namespace cellcam::report {
namespace {

namespace fs = std::filesystem;

constexpr Rgb kRed{200, 30, 30};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int count_non_background(const Raster& r, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) n += r.at(x, y) != kWhite ? 1 : 0;
  return n;
}

int count_colour(const Raster& r, Rgb c) {
  int n = 0;
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) n += r.at(x, y) == c ? 1 : 0;
  return n;
}

std::uint32_t read_be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_png_header(const std::vector<std::uint8_t>& png, int width, int height) {
  ASSERT_GE(png.size(), 33u);
  const std::vector<std::uint8_t> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_EQ(std::vector<std::uint8_t>(png.begin(), png.begin() + 8), signature);
  EXPECT_EQ(read_be32(png, 8), 13u);  // IHDR is always the first chunk, 13 bytes long
  EXPECT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  EXPECT_EQ(read_be32(png, 16), static_cast<std::uint32_t>(width));
  EXPECT_EQ(read_be32(png, 20), static_cast<std::uint32_t>(height));
}

fs::path sample_dir() {
  const char* env = std::getenv("CELLCAM_PLOT_SAMPLES");
  fs::path dir = env && *env ? fs::path(env) : fs::temp_directory_path() / "plot-samples";
  fs::create_directories(dir);
  return dir;
}

// ---- raster and primitives ----

TEST(Raster, SizeAndWhiteBackground) {
  Raster r(30, 20);
  EXPECT_EQ(r.width, 30);
  EXPECT_EQ(r.height, 20);
  ASSERT_EQ(r.rgb.size(), 30u * 20u * 3u);
  EXPECT_EQ(count_non_background(r, 0, 0, 30, 20), 0);
  EXPECT_EQ(Raster(-5, 4).rgb.size(), 0u);
}

TEST(Raster, FillRectCoversExactlyItsPixels) {
  Raster r(20, 20);
  fill_rect(r, 2, 3, 4, 5, kRed);
  EXPECT_EQ(r.at(2, 3), kRed);
  EXPECT_EQ(r.at(5, 7), kRed);
  EXPECT_EQ(r.at(6, 3), kWhite);
  EXPECT_EQ(r.at(2, 8), kWhite);
  EXPECT_EQ(r.at(1, 3), kWhite);
  EXPECT_EQ(count_colour(r, kRed), 20);
  fill_rect(r, -10, -10, 15, 15, kRed);  // clipped, not an error
  EXPECT_EQ(r.at(0, 0), kRed);
  EXPECT_EQ(r.at(4, 4), kRed);
}

TEST(Raster, StrokeRectDrawsOnlyTheBorder) {
  Raster r(20, 20);
  stroke_rect(r, 2, 2, 10, 8, kRed);
  EXPECT_EQ(r.at(2, 2), kRed);
  EXPECT_EQ(r.at(11, 9), kRed);
  EXPECT_EQ(r.at(6, 2), kRed);
  EXPECT_EQ(r.at(6, 5), kWhite);
  EXPECT_EQ(count_colour(r, kRed), 2 * 10 + 2 * 6);
}

TEST(Lines, HorizontalOnePixelLineFillsOneRow) {
  Raster r(100, 40);
  draw_line(r, 10, 20, 90, 20, kRed, 1.0);
  for (int x = 10; x <= 90; ++x) {
    EXPECT_EQ(r.at(x, 20), kRed) << "x=" << x;
    EXPECT_EQ(r.at(x, 19), kWhite) << "x=" << x;
    EXPECT_EQ(r.at(x, 21), kWhite) << "x=" << x;
  }
  EXPECT_EQ(r.at(8, 20), kWhite);
  EXPECT_EQ(r.at(92, 20), kWhite);
  EXPECT_EQ(count_non_background(r, 0, 0, 100, 40), 81);
}

TEST(Lines, TwoPixelVerticalLineIsSolidInTheMiddleAndSoftAtTheEdges) {
  Raster r(60, 60);
  draw_line(r, 30, 5, 30, 50, kRed, 2.0);
  for (int y = 5; y <= 50; ++y) {
    EXPECT_EQ(r.at(30, y), kRed) << "y=" << y;
    EXPECT_NE(r.at(29, y), kWhite) << "y=" << y;  // anti-aliased half coverage
    EXPECT_NE(r.at(29, y), kRed) << "y=" << y;
    EXPECT_EQ(r.at(27, y), kWhite) << "y=" << y;
    EXPECT_EQ(r.at(33, y), kWhite) << "y=" << y;
  }
}

TEST(Lines, DiagonalLineHasNoGaps) {
  Raster r(50, 50);
  draw_line(r, 0, 0, 49, 49, kRed, 1.0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(r.at(i, i), kRed) << i;
  EXPECT_EQ(r.at(40, 10), kWhite);
}

TEST(Lines, PolylineJointsAreNotDarkerThanTheLine) {
  Raster r(60, 60);
  draw_polyline(r, {{10, 10}, {30, 40}, {50, 10}}, kRed, 2.0);
  // Every pixel is a blend of white and red, never past red (a double-painted joint would be).
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 60; ++x) {
      const Rgb c = r.at(x, y);
      EXPECT_GE(c.g, kRed.g);
      EXPECT_GE(c.r, kRed.r);
    }
  EXPECT_EQ(r.at(30, 40), kRed);
}

TEST(Lines, DashedLineAlternates) {
  Raster r(100, 20);
  draw_dashed_line(r, 0, 10, 99, 10, kRed, 1.0, 8, 6);
  EXPECT_EQ(r.at(3, 10), kRed);     // inside the first dash [0, 8]
  EXPECT_EQ(r.at(11, 10), kWhite);  // inside the first gap (8, 14)
  EXPECT_EQ(r.at(17, 10), kRed);    // second dash [14, 22]
}

TEST(Lines, FillCircle) {
  Raster r(40, 40);
  fill_circle(r, 20, 20, 5, kRed);
  EXPECT_EQ(r.at(20, 20), kRed);
  EXPECT_EQ(r.at(24, 20), kRed);
  EXPECT_EQ(r.at(27, 20), kWhite);
  EXPECT_EQ(r.at(20, 13), kWhite);
}

TEST(Lines, OffRasterCoordinatesAreClipped) {
  Raster r(20, 20);
  draw_line(r, -1e12, 10, 1e12, 10, kRed, 1.0);
  EXPECT_EQ(r.at(0, 10), kRed);
  EXPECT_EQ(r.at(19, 10), kRed);
  fill_circle(r, 1e9, 1e9, 5, kRed);  // entirely outside: nothing
  EXPECT_EQ(count_colour(r, kRed), 20);
  // Dashes are walked only near the raster: this would be 1e11 dashes otherwise.
  draw_dashed_line(r, -1e12, 5, 1e12, 5, kRed, 1.0);
  EXPECT_GT(count_colour(r, kRed), 20 + 8);
  EXPECT_LT(count_colour(r, kRed), 40);
}

TEST(LineChart, DataFarOutsideFixedLimitsIsClippedQuickly) {
  LineChart c;
  Series s;
  s.label = "wild";
  s.dashed = true;
  for (int i = 0; i < 2000; ++i) {
    s.x.push_back(i);
    s.y.push_back(i % 2 ? 1e12 : -1e12);
  }
  c.series.push_back(s);
  c.y_min = 0.0;
  c.y_max = 1.0;
  Result<Raster> r = render_line_chart(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

// ---- text ----

TEST(Text, MeasureIsTwiceTheFontAtScaleTwo) {
  const TextSize s1 = measure_text("Loss 0.25", 1.0), s2 = measure_text("Loss 0.25", 2.0);
  EXPECT_GT(s1.width, 30);
  EXPECT_EQ(s2.width, 2 * s1.width);
  EXPECT_EQ(s2.height, 18);  // 7 units of capitals + 2 of descenders, doubled
  EXPECT_EQ(measure_text("", 2.0).width, 0);
}

TEST(Text, InksOnlyInsideItsBox) {
  Raster r(200, 60);
  const std::string text = "epoch 12";
  const TextSize s = measure_text(text, 2.0);
  draw_text(r, 10, 20, text, kInk, 2.0);
  const int inside = count_non_background(r, 10, 20, 10 + s.width, 20 + s.height);
  EXPECT_GT(inside, 50);
  EXPECT_EQ(count_non_background(r, 0, 0, 200, 60), inside);
  // The first column and the cap-top row of the box carry ink ('e' starts at the left; 'h' is tall).
  EXPECT_GT(count_non_background(r, 10, 20, 12, 20 + s.height), 0);
  EXPECT_GT(count_non_background(r, 10, 20, 10 + s.width, 22), 0);
}

TEST(Text, AlignmentMovesTheBox) {
  Raster r(200, 60);
  const TextSize s = measure_text("ABC", 2.0);
  draw_text(r, 100, 30, "ABC", kInk, 2.0, HAlign::kCenter, VAlign::kMiddle);
  // Capitals (7 units = 14 px) centred on y = 30, box centred on x = 100.
  EXPECT_EQ(count_non_background(r, 0, 0, 200, 60), count_non_background(r, 100 - s.width / 2, 23, 100 + s.width, 37));
  EXPECT_GT(count_non_background(r, 100 - s.width / 2, 23, 100, 37), 0);
  EXPECT_GT(count_non_background(r, 100, 23, 100 + s.width / 2 + 1, 37), 0);
}

TEST(Text, RotatedTextStandsUpright) {
  Raster r(60, 200);
  const std::string text = "accuracy";
  const TextSize s = measure_text(text, 2.0);
  draw_text_rotated(r, 10, 20, text, kInk, 2.0, HAlign::kLeft, VAlign::kTop);
  const int total = count_non_background(r, 0, 0, 60, 200);
  EXPECT_GT(total, 50);
  // The turned box is s.height wide and s.width tall.
  EXPECT_EQ(count_non_background(r, 10, 20, 10 + s.height, 20 + s.width), total);
  // Read bottom to top, the tops of the letters face left and descenders right. Of "accuracy" only the
  // last letter, 'y' (at the top), reaches into the descender columns.
  const int descender_x0 = 10 + 14;
  EXPECT_GT(count_non_background(r, 10, 20 + s.width - 10, 10 + s.height, 20 + s.width), 0);
  EXPECT_GT(count_non_background(r, descender_x0, 20, 10 + s.height, 20 + 14), 0);
  EXPECT_EQ(count_non_background(r, descender_x0, 20 + 14, 10 + s.height, 20 + s.width), 0);
}

TEST(Text, NonAsciiBytesAreDrawnAsQuestionMarks) {
  Raster a(100, 40), b(100, 40);
  draw_text(a, 5, 5, "\xc3\xa9t\x7f\n", kInk, 2.0);
  draw_text(b, 5, 5, "??t? ", kInk, 2.0);
  EXPECT_EQ(a.rgb, b.rgb);
}

TEST(Text, FractionalScaleIsAntiAliased) {
  Raster r(100, 40);
  draw_text(r, 5, 5, "Hello", kInk, 1.5);
  bool partial = false;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 100; ++x) partial = partial || (r.at(x, y) != kWhite && r.at(x, y) != kInk);
  EXPECT_TRUE(partial);
  EXPECT_EQ(measure_text("Hello", 1.5).height, 14);
}

// ---- ticks ----

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << "tick " << i;
}

TEST(NiceTicks, OneTwoFiveSteps) {
  expect_ticks(nice_ticks(0, 1), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(nice_ticks(0, 37), {0, 10, 20, 30});
  expect_ticks(nice_ticks(0.51, 0.53), {0.51, 0.515, 0.52, 0.525, 0.53});
  expect_ticks(nice_ticks(-3, 7), {-2, 0, 2, 4, 6});
  expect_ticks(nice_ticks(1, 30, 6), {5, 10, 15, 20, 25, 30});
  expect_ticks(nice_ticks(0, 1, 10), {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
  EXPECT_DOUBLE_EQ(nice_step(0, 37), 10);
  EXPECT_DOUBLE_EQ(nice_step(0.51, 0.53), 0.005);
}

TEST(NiceTicks, DegenerateRangesGiveNoTicks) {
  EXPECT_TRUE(nice_ticks(1, 1).empty());
  EXPECT_TRUE(nice_ticks(2, 1).empty());
  EXPECT_TRUE(nice_ticks(0, kNaN).empty());
  EXPECT_EQ(nice_step(0, std::numeric_limits<double>::infinity()), 0.0);
}

TEST(NiceTicks, LabelsHaveTheDecimalsOfTheStep) {
  EXPECT_EQ(format_tick(0.4, 0.2), "0.4");
  EXPECT_EQ(format_tick(0.0, 0.2), "0.0");
  EXPECT_EQ(format_tick(0.515, 0.005), "0.515");
  EXPECT_EQ(format_tick(0.52, 0.005), "0.520");
  EXPECT_EQ(format_tick(30, 10), "30");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");  // no "-0.0"
  EXPECT_EQ(format_tick(2.5, 0.5), "2.5");
}

// ---- charts ----

Series series(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

TEST(LineChart, RendersAtTheRequestedSizeWithTheSeriesColour) {
  LineChart c;
  c.title = "Flat";
  c.x_label = "x";
  c.y_label = "y";
  c.series.push_back(series("half", {0, 1, 2, 3}, {0.5, 0.5, 0.5, 0.5}));
  c.y_min = 0.0;
  c.y_max = 1.0;
  Result<Raster> r = render_line_chart(c, 640, 480);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().width, 640);
  EXPECT_EQ(r.value().height, 480);
  EXPECT_EQ(r.value().rgb.size(), 640u * 480u * 3u);
  EXPECT_GT(count_colour(r.value(), palette_colour(0)), 300);  // a 2 px line across the plot
  EXPECT_GT(count_colour(r.value(), kInk), 200);               // title, labels, ticks
  EXPECT_EQ(r.value().at(0, 0), kWhite);
}

TEST(LineChart, NaNPointsAreSkipped) {
  LineChart c;
  c.series.push_back(series("gappy", {0, 1, 2, 3, 4}, {1, kNaN, 3, std::numeric_limits<double>::infinity(), 2}));
  Result<Raster> r = render_line_chart(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().width, 800);
  EXPECT_EQ(r.value().height, 560);
}

TEST(LineChart, ConstantDataStillGetsAnAxis) {
  LineChart c;
  c.series.push_back(series("one", {3}, {7}));
  EXPECT_TRUE(render_line_chart(c).ok());
}

TEST(LineChart, InvalidInputIsAnError) {
  LineChart none;
  Result<Raster> r = render_line_chart(none);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  LineChart empty;
  empty.series.push_back(series("train", {}, {}));
  r = render_line_chart(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("empty"), std::string::npos) << r.error().message;

  LineChart mismatch;
  mismatch.series.push_back(series("train", {1, 2, 3}, {1, 2}));
  EXPECT_FALSE(render_line_chart(mismatch).ok());

  LineChart all_nan;
  all_nan.series.push_back(series("val", {1, 2}, {kNaN, kNaN}));
  EXPECT_FALSE(render_line_chart(all_nan).ok());

  LineChart bad_limits;
  bad_limits.series.push_back(series("a", {1, 2}, {1, 2}));
  bad_limits.y_min = 1.0;
  bad_limits.y_max = 0.0;
  EXPECT_FALSE(render_line_chart(bad_limits).ok());

  LineChart ok;
  ok.series.push_back(series("a", {1, 2}, {1, 2}));
  EXPECT_FALSE(render_line_chart(ok, 10, 10).ok());
  EXPECT_FALSE(render_line_chart(ok, 100000, 600).ok());
}

Heatmap small_heatmap() {
  Heatmap h;
  h.title = "Confusion";
  h.x_label = "predicted";
  h.y_label = "true";
  h.labels = {"a", "b", "c"};
  h.counts = {10, 0, 0, 2, 8, 0, 0, 0, 0};  // last row empty: no percentages, no division by zero
  return h;
}

TEST(ConfusionMatrix, RendersAtTheRequestedSize) {
  Result<Raster> r = render_confusion_matrix(small_heatmap(), 500, 460);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().width, 500);
  EXPECT_EQ(r.value().height, 460);
  // A row with every count on the diagonal is the darkest blue of the scale.
  int dark_blue = 0;
  for (int y = 0; y < 460; ++y)
    for (int x = 0; x < 500; ++x) {
      const Rgb c = r.value().at(x, y);
      dark_blue += (c.b > 90 && c.b < 120 && c.r < 20) ? 1 : 0;
    }
  EXPECT_GT(dark_blue, 500);
}

TEST(ConfusionMatrix, ShapeMismatchAndBadCountsAreErrors) {
  Heatmap h = small_heatmap();
  h.counts.pop_back();
  Result<Raster> r = render_confusion_matrix(h);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("n x n"), std::string::npos) << r.error().message;

  h = small_heatmap();
  h.counts[4] = -1;
  EXPECT_FALSE(render_confusion_matrix(h).ok());

  h = small_heatmap();
  h.labels.clear();
  h.counts.clear();
  EXPECT_FALSE(render_confusion_matrix(h).ok());

  EXPECT_FALSE(plot_confusion((fs::temp_directory_path() / "never.png").string(), {"a", "b"}, {1, 2, 3}).ok());
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / "never.png"));
}

TEST(ConfusionMatrix, ManyClassesStillRender) {
  Heatmap h;
  for (int i = 0; i < 30; ++i) h.labels.push_back("class " + std::to_string(i));
  h.counts.assign(900, 3);
  Result<Raster> r = render_confusion_matrix(h);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

// ---- PNG ----

TEST(Png, EncodesAReadablePng) {
  Raster r(37, 23);
  fill_rect(r, 5, 5, 10, 4, kRed);
  Result<std::vector<std::uint8_t>> png = encode_png(r);
  ASSERT_TRUE(png.ok()) << png.error().message;
  expect_png_header(png.value(), 37, 23);
  Result<Image> decoded = decode_image(png.value().data(), png.value().size());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded.value().channels, 3);
  EXPECT_EQ(decoded.value().samples, r.rgb);
}

TEST(Png, WritesAtomically) {
  const fs::path dir = fs::temp_directory_path() / "cellcam_test_plot";
  fs::create_directories(dir);
  const std::string path = (dir / "square.png").string();
  Raster r(64, 48);
  ASSERT_TRUE(write_png(r, path).ok());
  expect_png_header(read_bytes(path), 64, 48);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  fs::remove_all(dir);
}

TEST(Png, ErrorsAreReported) {
  Result<bool> w = write_png(Raster(4, 4), "/nonexistent-dir-for-cellcam/x.png");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kIo);
  EXPECT_FALSE(encode_png(Raster()).ok());
}

// ---- sample figures (look at them) ----

TEST(Samples, TrainingCurves) {
  std::vector<double> epochs, train_loss, val_loss, train_acc, val_acc;
  for (int e = 1; e <= 30; ++e) {
    const double wobble = 0.03 * std::sin(e * 1.7);
    epochs.push_back(e);
    train_loss.push_back(1.9 * std::exp(-e / 6.0) + 0.12 + 0.5 * wobble);
    val_loss.push_back(1.7 * std::exp(-e / 7.0) + 0.30 + 0.004 * std::max(0, e - 18) + wobble);
    train_acc.push_back(0.98 - 0.75 * std::exp(-e / 5.0) + 0.3 * wobble);
    val_acc.push_back(0.93 - 0.70 * std::exp(-e / 6.0) - wobble);
  }
  val_loss[4] = kNaN;  // a skipped validation pass
  const std::string path = (sample_dir() / "training_curves.png").string();
  Result<bool> w = plot_training_curves(path, epochs, train_loss, val_loss, train_acc, val_acc);
  ASSERT_TRUE(w.ok()) << w.error().message;
  expect_png_header(read_bytes(path), 1400, 520);

  Result<bool> bad = plot_training_curves(path, epochs, {1, 2}, {}, {}, {});
  EXPECT_FALSE(bad.ok());
}

TEST(Samples, Roc) {
  // Power-law ROC curves tpr = fpr^a have AUC 1 / (1 + a).
  std::vector<Series> curves;
  const std::vector<std::pair<std::string, double>> models = {{"neutrophil vs rest", 0.06}, {"monocyte vs rest", 0.22}};
  for (const auto& [name, a] : models) {
    Series s;
    for (int i = 0; i <= 200; ++i) {
      const double fpr = std::pow(i / 200.0, 2.0);
      s.x.push_back(fpr);
      s.y.push_back(std::pow(fpr, a));
    }
    char label[96];
    std::snprintf(label, sizeof label, "%s (AUC %.3f)", name.c_str(), 1 / (1 + a));
    s.label = label;
    curves.push_back(s);
  }
  const std::string path = (sample_dir() / "roc.png").string();
  Result<bool> w = plot_roc(path, curves);
  ASSERT_TRUE(w.ok()) << w.error().message;
  expect_png_header(read_bytes(path), 680, 640);
  EXPECT_FALSE(plot_roc(path, {}).ok());
}

TEST(Samples, ConfusionMatrix) {
  const std::vector<std::string> labels = {"basophil",   "eosinophil", "erythroblast", "immature granulocyte",
                                           "lymphocyte", "monocyte",   "neutrophil",   "platelet"};
  const std::vector<long long> counts = {
      // rows: true class; columns: predicted
      231, 2,   0,   9,   1,   0,   0,   1,    //
      1,   605, 0,   4,   0,   1,   12,  0,    //
      0,   0,   287, 6,   13,  0,   1,   3,    //
      7,   5,   3,   483, 4,   42,  35,  0,    //
      2,   0,   9,   3,   225, 4,   0,   0,    //
      0,   1,   0,   38,  6,   237, 2,   0,    //
      0,   9,   1,   41,  0,   1,   613, 0,    //
      0,   0,   2,   0,   0,   0,   0,   468,  //
  };
  const std::string path = (sample_dir() / "confusion_matrix.png").string();
  Result<bool> w = plot_confusion(path, labels, counts);
  ASSERT_TRUE(w.ok()) << w.error().message;
  expect_png_header(read_bytes(path), 720, 720);
}

}  // namespace
}  // namespace cellcam::report
