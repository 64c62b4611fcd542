// plot.cpp — see plot.h. A raster renderer just large enough for report figures.
//
// Strokes and discs are anti-aliased from the distance of each pixel centre to the shape; a stroke is
// first accumulated in a coverage mask (maximum, not sum) and painted once, so the joints of a polyline
// and overlapping round caps are not darker than the line. Text comes from stb_easy_font, whose glyphs
// are axis-aligned quads on a 1-unit grid: at integer scales they rasterise to crisp pixels, at
// fractional scales to area-weighted coverage.
#include "plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>
#include <utility>

#include "png_writer.h"

// stb_easy_font is static by design, and not written for -Wall -Wextra. PNGs are encoded and written by
// the one PNG writer of the native build (io/png_writer.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace cellcam::report {
namespace {

constexpr Rgb kAxis{90, 90, 90};         // spines and tick marks: a shade lighter than the text
constexpr Rgb kFrame{200, 200, 200};     // legend and matrix outlines
constexpr Rgb kDiagonal{150, 150, 150};  // the chance line of a ROC plot
constexpr double kBodyScale = 2.0;       // stb_easy_font at 2x: 14 px capitals
constexpr int kPad = 16;                 // outer margin of every figure
constexpr int kTickLen = 5;
constexpr int kMaxSide = 8000;
constexpr std::size_t kMaxTextChars = 400;
// stb_easy_font's cell: capitals span units 0..7, descenders reach 9.
constexpr double kCapUnits = 7.0;
constexpr double kCellUnits = 9.0;

Error invalid(const std::string& message) { return make_error(ErrorCode::kInvalidArgument, message); }

double clampd(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

std::uint8_t mix(std::uint8_t from, std::uint8_t to, double t) {
  return static_cast<std::uint8_t>(std::lround(from + (to - from) * t));
}

Rgb mix(Rgb from, Rgb to, double t) { return {mix(from.r, to.r, t), mix(from.g, to.g, t), mix(from.b, to.b, t)}; }

// ---- coverage masks ----------------------------------------------------------------------------------

// Coverage over a window of the raster; pieces of one shape combine by maximum.
class CoverageMask {
 public:
  CoverageMask(const Raster& r, std::optional<ClipRect> clip) {
    int x0 = 0, y0 = 0, x1 = r.width, y1 = r.height;  // half-open
    if (clip) {
      x0 = std::max(x0, clip->x);
      y0 = std::max(y0, clip->y);
      x1 = std::min(x1, clip->x + clip->w);
      y1 = std::min(y1, clip->y + clip->h);
    }
    x0_ = x0;
    y0_ = y0;
    w_ = std::max(0, x1 - x0);
    h_ = std::max(0, y1 - y0);
    a_.assign(static_cast<std::size_t>(w_) * h_, 0.0f);
  }

  // Walks only the rows of the segment's clipped part and, in each row, the band around the line, so
  // a long diagonal costs its length, not its bounding box.
  void stamp_segment(Point a, Point b, double width) {
    const double half = width / 2, reach = half + 1;
    const double strength = std::min(1.0, width);  // hairlines fade instead of thinning below 1 px
    const auto span = visible_span(a, b, reach + 1);
    if (!span) return;
    const Point p = at_t(a, b, span->first), q = at_t(a, b, span->second);
    const double dx = q.x - p.x, dy = q.y - p.y;
    const double len2 = dx * dx + dy * dy, len = std::sqrt(len2);
    const int row0 = clamp_row(std::floor(std::min(p.y, q.y) - reach));
    const int row1 = clamp_row(std::ceil(std::max(p.y, q.y) + reach) + 1);
    for (int y = row0; y < row1; ++y) {
      double left = std::min(p.x, q.x) - reach, right = std::max(p.x, q.x) + reach;
      if (std::fabs(dy) > 1e-9) {  // pixels farther than `reach` from the line cannot be covered
        const double centre = p.x + (y - p.y) * dx / dy, spread = reach * len / std::fabs(dy);
        left = std::max(left, centre - spread);
        right = std::min(right, centre + spread);
      }
      const int col0 = clamp_col(std::floor(left)), col1 = clamp_col(std::ceil(right) + 1);
      for (int x = col0; x < col1; ++x) {
        double t = len2 > 0 ? ((x - p.x) * dx + (y - p.y) * dy) / len2 : 0.0;
        t = clampd(t, 0.0, 1.0);
        const double ex = p.x + t * dx - x, ey = p.y + t * dy - y;
        put(x, y, clampd(half + 0.5 - std::sqrt(ex * ex + ey * ey), 0.0, 1.0) * strength);
      }
    }
  }

  void stamp_disc(Point c, double radius) {
    visit_box(c.x - radius - 1, c.y - radius - 1, c.x + radius + 1, c.y + radius + 1,
              [&](double px, double py) { return clampd(radius + 0.5 - std::hypot(px - c.x, py - c.y), 0.0, 1.0); });
  }

  // The part [t0, t1] of segment a->b (t in 0..1) inside the window grown by `margin` (Liang–Barsky);
  // nullopt when it misses. Lets callers skip work on the off-window length of far-off data.
  std::optional<std::pair<double, double>> visible_span(Point a, Point b, double margin) const {
    double t0 = 0, t1 = 1;
    auto clip = [&](double p, double q) {  // the half-plane p * t <= q
      if (p == 0) return q >= 0;
      const double r = q / p;
      if (p < 0) {
        if (r > t1) return false;
        t0 = std::max(t0, r);
      } else {
        if (r < t0) return false;
        t1 = std::min(t1, r);
      }
      return true;
    };
    const double dx = b.x - a.x, dy = b.y - a.y;
    const double xmin = x0_ - margin, xmax = x0_ + w_ + margin, ymin = y0_ - margin, ymax = y0_ + h_ + margin;
    if (clip(-dx, a.x - xmin) && clip(dx, xmax - a.x) && clip(-dy, a.y - ymin) && clip(dy, ymax - a.y))
      return std::make_pair(t0, t1);
    return std::nullopt;
  }

  // Longest stretch of a line that can cross the window, with room to spare.
  double max_visible_length(double margin) const { return 2.0 * (w_ + h_) + 4 * margin + 8; }

  void paint(Raster& r, Rgb c) const {
    for (int y = 0; y < h_; ++y)
      for (int x = 0; x < w_; ++x) {
        const float a = a_[static_cast<std::size_t>(y) * w_ + x];
        if (a > 0) r.blend(x0_ + x, y0_ + y, c, a);
      }
  }

 private:
  // Calls coverage(px, py) for every pixel centre of the box inside the window.
  template <typename F>
  void visit_box(double bx0, double by0, double bx1, double by1, F coverage) {
    if (w_ == 0 || h_ == 0) return;
    // Clamp in double before converting: off-chart data can map to huge pixel coordinates.
    const int x0 = clamp_col(std::floor(bx0)), y0 = clamp_row(std::floor(by0));
    const int x1 = clamp_col(std::ceil(bx1) + 1), y1 = clamp_row(std::ceil(by1) + 1);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) put(x, y, coverage(x, y));
  }

  static Point at_t(Point a, Point b, double t) {
    if (t <= 0) return a;
    if (t >= 1) return b;
    return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t};
  }
  int clamp_col(double x) const { return static_cast<int>(clampd(x, x0_, x0_ + w_)); }
  int clamp_row(double y) const { return static_cast<int>(clampd(y, y0_, y0_ + h_)); }
  void put(int x, int y, double coverage) {
    float& slot = a_[static_cast<std::size_t>(y - y0_) * w_ + (x - x0_)];
    slot = std::max(slot, static_cast<float>(coverage));
  }

  int x0_ = 0, y0_ = 0, w_ = 0, h_ = 0;
  std::vector<float> a_;
};

// Stamps the "on" stretches of a dash pattern along a polyline; the pattern runs on across joints.
// Only the stretch of each segment near the mask is walked: off-chart data can be 1e11 px long.
void stamp_dashed(CoverageMask& mask, const std::vector<Point>& pts, double width, double dash, double gap) {
  if (!(dash > 0) || !(gap >= 0)) return;
  const double period = dash + gap, margin = width + 2;
  double phase = 0;
  for (std::size_t i = 1; i < pts.size(); ++i) {
    const Point a = pts[i - 1], b = pts[i];
    const double len = std::hypot(b.x - a.x, b.y - a.y);
    if (!(len > 0) || !std::isfinite(len)) continue;
    const auto span = mask.visible_span(a, b, margin);
    if (!span) {
      phase = std::fmod(phase + len, period);
      continue;
    }
    // Walk from the clipped start in small numbers; the cap on the length keeps the loop finite even
    // where rounding of huge coordinates makes the clipped span meaningless.
    const Point start{a.x + (b.x - a.x) * span->first, a.y + (b.y - a.y) * span->first};
    const double ux = (b.x - a.x) / len, uy = (b.y - a.y) / len;
    const double visible = std::min((span->second - span->first) * len, mask.max_visible_length(margin));
    phase = std::fmod(phase + span->first * len, period);
    double t = 0;
    for (int dashes = 0; t < visible && dashes < 1000000; ++dashes) {
      const bool on = phase < dash;
      const double run = std::min((on ? dash : period) - phase, visible - t);
      if (on)
        mask.stamp_segment({start.x + ux * t, start.y + uy * t}, {start.x + ux * (t + run), start.y + uy * (t + run)},
                           width);
      t += run;
      phase += run;
      if (phase >= period) phase -= period;
    }
    phase = std::fmod(phase + (1 - span->second) * len, period);
  }
}

// ---- text --------------------------------------------------------------------------------------------

// stb_easy_font indexes its tables with (c - 32) for every byte: anything outside ' '..'~' would read
// out of bounds, so it becomes '?'. One line only; long strings are cut.
std::string printable(const std::string& text) {
  std::string out = text.substr(0, kMaxTextChars);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 32 || u > 126) c = (c == '\n' || c == '\t') ? ' ' : '?';
  }
  return out;
}

struct Quad {
  float x0, y0, x1, y1;  // font units, x1/y1 exclusive
};

std::vector<Quad> glyph_quads(const std::string& text) {
  std::string s = printable(text);
  if (s.empty()) return {};
  // The widest glyphs take about 20 quads; stb truncates (safely) if the buffer is short.
  constexpr int kQuadsPerChar = 32;
  constexpr int kFloatsPerQuad = 16;  // 4 vertices of x, y, z, colour
  std::vector<float> buffer(s.size() * kQuadsPerChar * kFloatsPerQuad);
  const int quads =
      stb_easy_font_print(0, 0, s.data(), nullptr, buffer.data(), static_cast<int>(buffer.size() * sizeof(float)));
  std::vector<Quad> out;
  out.reserve(static_cast<std::size_t>(std::max(0, quads)));
  for (int q = 0; q < quads; ++q) {
    const float* v = &buffer[static_cast<std::size_t>(q) * kFloatsPerQuad];
    out.push_back({v[0], v[1], v[8], v[9]});  // vertex 0 and vertex 2 are opposite corners
  }
  return out;
}

// Single-channel coverage image; pixel (x, y) covers [x, x+1) x [y, y+1).
struct Mask {
  int w = 0, h = 0;
  std::vector<float> a;
  float at(int x, int y) const { return a[static_cast<std::size_t>(y) * w + x]; }
};

int text_height_px(double scale) { return static_cast<int>(std::ceil(kCellUnits * scale - 1e-6)); }
int cap_middle_px(double scale) { return static_cast<int>(std::lround(kCapUnits * scale / 2)); }

Mask rasterise_text(const std::string& text, double scale) {
  const std::vector<Quad> quads = glyph_quads(text);
  float ink = 0;
  for (const Quad& q : quads) ink = std::max(ink, q.x1);
  Mask m;
  m.w = static_cast<int>(std::ceil(ink * scale - 1e-6));
  m.h = text_height_px(scale);
  m.a.assign(static_cast<std::size_t>(m.w) * m.h, 0.0f);
  for (const Quad& q : quads) {
    const double x0 = q.x0 * scale, x1 = q.x1 * scale, y0 = q.y0 * scale, y1 = q.y1 * scale;
    for (int y = std::max(0, static_cast<int>(std::floor(y0))); y < std::min(m.h, static_cast<int>(std::ceil(y1)));
         ++y) {
      const double oy = std::min<double>(y + 1, y1) - std::max<double>(y, y0);
      for (int x = std::max(0, static_cast<int>(std::floor(x0))); x < std::min(m.w, static_cast<int>(std::ceil(x1)));
           ++x) {
        const double ox = std::min<double>(x + 1, x1) - std::max<double>(x, x0);
        float& slot = m.a[static_cast<std::size_t>(y) * m.w + x];
        slot = std::min(1.0f, slot + static_cast<float>(ox * oy));
      }
    }
  }
  return m;
}

// 90° counter-clockwise: the top of the text ends up facing left.
Mask rotate_ccw(const Mask& m) {
  Mask out;
  out.w = m.h;
  out.h = m.w;
  out.a.assign(m.a.size(), 0.0f);
  for (int y = 0; y < m.h; ++y)
    for (int x = 0; x < m.w; ++x) out.a[static_cast<std::size_t>(m.w - 1 - x) * out.w + y] = m.at(x, y);
  return out;
}

void paint_mask(Raster& r, const Mask& m, int x0, int y0, Rgb c) {
  for (int y = 0; y < m.h; ++y)
    for (int x = 0; x < m.w; ++x)
      if (m.at(x, y) > 0) r.blend(x0 + x, y0 + y, c, m.at(x, y));
}

// Heavier text for titles: the glyphs drawn twice, one pixel apart.
void draw_bold_text(Raster& r, int x, int y, const std::string& text, Rgb c, double scale, HAlign h, VAlign v) {
  draw_text(r, x, y, text, c, scale, h, v);
  draw_text(r, x + 1, y, text, c, scale, h, v);
}

// Longest prefix of `text` (plus a '.') that fits in `max_width` px; the text itself when it fits.
std::string abbreviate(const std::string& text, double scale, int max_width) {
  if (measure_text(text, scale).width <= max_width) return text;
  // No glyph advances less than 3 units: longer prefixes cannot fit, so skip measuring them.
  const auto longest = static_cast<std::size_t>(std::max(0.0, max_width / (3 * scale))) + 1;
  std::string cut = text.substr(0, longest);
  while (!cut.empty()) {
    cut.pop_back();
    while (!cut.empty() && cut.back() == ' ') cut.pop_back();
    if (measure_text(cut + ".", scale).width <= max_width) return cut + ".";
  }
  return text.substr(0, 1);
}

// A bold title centred on `centre_x` but kept inside the figure's margins, smaller if it is too long.
void draw_title(Raster& r, int centre_x, int y, const std::string& text) {
  double scale = kBodyScale;
  int w = measure_text(text, scale).width + 1;
  if (w > r.width - 2 * kPad) {
    scale = 1.5;
    w = measure_text(text, scale).width + 1;
  }
  const std::string fitted = abbreviate(printable(text), scale, r.width - 2 * kPad - 1);
  w = std::min(w, measure_text(fitted, scale).width + 1);
  const int x = std::max(kPad, std::min(centre_x - w / 2, r.width - kPad - w));
  draw_bold_text(r, x, y, fitted, kInk, scale, HAlign::kLeft, VAlign::kTop);
}

// ---- axes --------------------------------------------------------------------------------------------

// A 1-2-5 step kept as mantissa x 10^exponent, so ticks are computed as integer / power of ten and come
// out as the nearest doubles to their decimal values (0.515, not 0.51500000000000001).
struct Step {
  long long mantissa = 1;
  int exponent = 0;
  double value() const { return mantissa * std::pow(10.0, exponent); }
  double at(long long i) const {
    return exponent < 0 ? static_cast<double>(i * mantissa) / std::pow(10.0, -exponent)
                        : static_cast<double>(i * mantissa) * std::pow(10.0, exponent);
  }
};

std::optional<Step> choose_step(double lo, double hi, int max_intervals) {
  const double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span)) return std::nullopt;
  max_intervals = std::max(1, max_intervals);
  const int e = static_cast<int>(std::floor(std::log10(span / max_intervals)));
  for (long long m : {1, 2, 5, 10}) {
    const Step s{m == 10 ? 1 : m, m == 10 ? e + 1 : e};
    if (span / s.value() <= max_intervals + 1e-9) return s;
  }
  return Step{1, e + 1};
}

std::vector<double> ticks_at(double lo, double hi, const Step& step) {
  const double v = step.value();
  const double first = std::ceil(lo / v - 1e-9), last = std::floor(hi / v + 1e-9);
  std::vector<double> out;
  if (!(last >= first) || last - first > 1000) return out;
  for (auto i = static_cast<long long>(first); i <= static_cast<long long>(last); ++i) {
    const double t = step.at(i);
    out.push_back(t == 0 ? 0.0 : t);  // no "-0"
  }
  return out;
}

struct Axis {
  double lo = 0, hi = 1;
  Step step;
  std::vector<double> ticks;
};

// Axis over the data, ends fixed where asked and otherwise widened to the next tick.
Axis make_axis(double data_lo, double data_hi, std::optional<double> fixed_lo, std::optional<double> fixed_hi,
               int max_intervals) {
  double lo = fixed_lo.value_or(data_lo), hi = fixed_hi.value_or(data_hi);
  if (!(hi > lo)) {  // constant data, or data entirely beyond a fixed end
    double pad = std::max(std::fabs(lo), std::fabs(hi)) * 0.1;
    if (!(pad > 0)) pad = 1;
    if (fixed_lo && !fixed_hi) {
      hi = lo + 2 * pad;
    } else if (fixed_hi && !fixed_lo) {
      lo = hi - 2 * pad;
    } else {
      const double mid = (lo + hi) / 2;
      lo = mid - pad;
      hi = mid + pad;
    }
  }
  Axis axis;
  const std::optional<Step> step = choose_step(lo, hi, max_intervals);
  if (!step) {  // a span beyond double range: draw the axis, but without ticks
    axis.lo = lo;
    axis.hi = hi;
    return axis;
  }
  axis.step = *step;
  const double v = axis.step.value();
  axis.lo = fixed_lo ? lo : axis.step.at(static_cast<long long>(std::floor(lo / v + 1e-9)));
  axis.hi = fixed_hi ? hi : axis.step.at(static_cast<long long>(std::ceil(hi / v - 1e-9)));
  axis.ticks = ticks_at(axis.lo, axis.hi, axis.step);
  return axis;
}

int max_label_width(const Axis& axis, double scale) {
  int w = 0;
  for (double t : axis.ticks) w = std::max(w, measure_text(format_tick(t, axis.step.value()), scale).width);
  return w;
}

// Plot area in pixels, bounds inclusive.
struct Area {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int w() const { return x1 - x0; }
  int h() const { return y1 - y0; }
};

double to_px(const Axis& a, double v, int p0, int p1) { return p0 + (v - a.lo) / (a.hi - a.lo) * (p1 - p0); }
double x_px(const Axis& a, const Area& area, double v) { return to_px(a, v, area.x0, area.x1); }
double y_px(const Axis& a, const Area& area, double v) { return to_px(a, v, area.y1, area.y0); }

// ---- line chart ---------------------------------------------------------------------------------------

std::optional<Error> check_size(int width, int height, int min_w, int min_h) {
  if (width < min_w || height < min_h || width > kMaxSide || height > kMaxSide)
    return invalid("figure size " + std::to_string(width) + "x" + std::to_string(height) + " is outside " +
                   std::to_string(min_w) + "x" + std::to_string(min_h) + " .. " + std::to_string(kMaxSide) + "x" +
                   std::to_string(kMaxSide));
  return std::nullopt;
}

bool finite_point(const Series& s, std::size_t i) { return std::isfinite(s.x[i]) && std::isfinite(s.y[i]); }

std::string series_name(const Series& s, std::size_t index) {
  return s.label.empty() ? "series " + std::to_string(index) : "series '" + s.label + "'";
}

std::optional<Error> check_chart(const LineChart& chart) {
  if (chart.series.empty()) return invalid("line chart '" + chart.title + "' has no series");
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.x.empty() || s.y.empty()) return invalid(series_name(s, i) + " is empty");
    if (s.x.size() != s.y.size())
      return invalid(series_name(s, i) + " has " + std::to_string(s.x.size()) + " x values but " +
                     std::to_string(s.y.size()) + " y values");
    bool any = false;
    for (std::size_t k = 0; k < s.x.size() && !any; ++k) any = finite_point(s, k);
    if (!any) return invalid(series_name(s, i) + " has no finite point");
  }
  for (const auto& [lo, hi, name] :
       {std::tuple{chart.x_min, chart.x_max, "x"}, std::tuple{chart.y_min, chart.y_max, "y"}}) {
    if ((lo && !std::isfinite(*lo)) || (hi && !std::isfinite(*hi)))
      return invalid(std::string(name) + "-axis limit is not finite");
    if (lo && hi && !(*lo < *hi)) return invalid(std::string(name) + "-axis minimum must be below its maximum");
  }
  return std::nullopt;
}

struct DataRange {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -std::numeric_limits<double>::infinity();
  double y_lo = x_lo, y_hi = x_hi;
};

DataRange data_range(const LineChart& chart) {
  DataRange d;
  for (const Series& s : chart.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!finite_point(s, i)) continue;
      d.x_lo = std::min(d.x_lo, s.x[i]);
      d.x_hi = std::max(d.x_hi, s.x[i]);
      d.y_lo = std::min(d.y_lo, s.y[i]);
      d.y_hi = std::max(d.y_hi, s.y[i]);
    }
  return d;
}

Rgb series_colour(const LineChart& chart, std::size_t i) { return chart.series[i].colour.value_or(palette_colour(i)); }

std::size_t finite_count(const Series& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.x.size(); ++i) n += finite_point(s, i) ? 1 : 0;
  return n;
}

bool wants_markers(const LineChart& chart, const Series& s) {
  constexpr std::size_t kMaxMarkedPoints = 60;  // beyond this the dots merge into a thick line
  return s.points_only || (chart.markers && finite_count(s) <= kMaxMarkedPoints);
}

// Pixel positions of a series, split into runs at non-finite points.
std::vector<std::vector<Point>> series_runs(const Series& s, const Axis& xa, const Axis& ya, const Area& area) {
  std::vector<std::vector<Point>> runs(1);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (!finite_point(s, i)) {
      if (!runs.back().empty()) runs.emplace_back();
      continue;
    }
    runs.back().push_back({x_px(xa, area, s.x[i]), y_px(ya, area, s.y[i])});
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

constexpr double kLineWidth = 2.0;
constexpr double kMarkerRadius = 3.0;
constexpr double kDash = 7.0, kGap = 5.0;

void stamp_stroke(CoverageMask& mask, const std::vector<Point>& pts, double width, bool dashed) {
  if (pts.size() == 1) {
    mask.stamp_disc(pts[0], width);  // a point between gaps stays visible as a dot
  } else if (dashed) {
    stamp_dashed(mask, pts, width, kDash, kGap);
  } else {
    for (std::size_t i = 1; i < pts.size(); ++i) mask.stamp_segment(pts[i - 1], pts[i], width);
  }
}

ClipRect grown(const Area& area, int by) {
  return {area.x0 - by, area.y0 - by, area.w() + 1 + 2 * by, area.h() + 1 + 2 * by};
}

void draw_series(Raster& r, const LineChart& chart, std::size_t index, const Axis& xa, const Axis& ya,
                 const Area& area) {
  const Series& s = chart.series[index];
  const Rgb c = series_colour(chart, index);
  // Grown by a line width so a curve running along an axis end (a ROC at tpr = 1) is not cut in half.
  const ClipRect clip = grown(area, 3);
  const auto runs = series_runs(s, xa, ya, area);
  if (!s.points_only) {
    CoverageMask mask(r, clip);
    for (const auto& run : runs) stamp_stroke(mask, run, kLineWidth, s.dashed);
    mask.paint(r, c);
  }
  if (!wants_markers(chart, s)) return;
  for (const auto& run : runs)
    for (const Point& p : run) {
      const bool inside = p.x >= clip.x && p.x < clip.x + clip.w && p.y >= clip.y && p.y < clip.y + clip.h;
      if (inside) fill_circle(r, p.x, p.y, kMarkerRadius, c);
    }
}

void draw_diagonal(Raster& r, const Axis& xa, const Axis& ya, const Area& area) {
  const double t0 = std::max(xa.lo, ya.lo), t1 = std::min(xa.hi, ya.hi);
  if (!(t1 > t0)) return;
  CoverageMask mask(r, grown(area, 1));
  stamp_dashed(mask, {{x_px(xa, area, t0), y_px(ya, area, t0)}, {x_px(xa, area, t1), y_px(ya, area, t1)}}, 1.5, 6, 5);
  mask.paint(r, kDiagonal);
}

void draw_grid(Raster& r, const Axis& xa, const Axis& ya, const Area& area) {
  for (double t : xa.ticks)
    fill_rect(r, static_cast<int>(std::lround(x_px(xa, area, t))), area.y0, 1, area.h() + 1, kGrid);
  for (double t : ya.ticks)
    fill_rect(r, area.x0, static_cast<int>(std::lround(y_px(ya, area, t))), area.w() + 1, 1, kGrid);
}

// Left and bottom spines with outward ticks and their labels; the grid closes the other two sides.
void draw_axes(Raster& r, const Axis& xa, const Axis& ya, const Area& area) {
  fill_rect(r, area.x0, area.y0, 1, area.h() + 1, kAxis);
  fill_rect(r, area.x0, area.y1, area.w() + 1, 1, kAxis);
  for (double t : ya.ticks) {
    const int y = static_cast<int>(std::lround(y_px(ya, area, t)));
    fill_rect(r, area.x0 - kTickLen, y, kTickLen, 1, kAxis);
    draw_text(r, area.x0 - kTickLen - 6, y, format_tick(t, ya.step.value()), kInk, kBodyScale, HAlign::kRight,
              VAlign::kMiddle);
  }
  for (double t : xa.ticks) {
    const int x = static_cast<int>(std::lround(x_px(xa, area, t)));
    fill_rect(r, x, area.y1 + 1, 1, kTickLen, kAxis);
    draw_text(r, x, area.y1 + kTickLen + 6, format_tick(t, xa.step.value()), kInk, kBodyScale, HAlign::kCenter,
              VAlign::kTop);
  }
}

struct LegendEntry {
  std::string label;
  Rgb colour;
  bool dashed = false;
  bool marker = false;
  double width = kLineWidth;
};

std::vector<LegendEntry> legend_entries(const LineChart& chart) {
  std::vector<LegendEntry> out;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (!s.label.empty()) out.push_back({s.label, series_colour(chart, i), s.dashed, wants_markers(chart, s)});
  }
  if (chart.diagonal && !out.empty()) out.push_back({chart.diagonal_label, kDiagonal, true, false, 1.5});
  return out;
}

constexpr int kLegendRow = 24, kLegendPad = 10, kLegendSample = 30;

struct Box {
  int x = 0, y = 0, w = 0, h = 0;
  bool contains(double px, double py) const { return px >= x && px < x + w && py >= y && py < y + h; }
};

Box legend_size(const std::vector<LegendEntry>& entries) {
  int text_w = 0;
  for (const auto& e : entries) text_w = std::max(text_w, measure_text(e.label, kBodyScale).width);
  return {0, 0, kLegendPad + kLegendSample + 8 + text_w + kLegendPad + 2,
          kLegendPad + static_cast<int>(entries.size()) * kLegendRow + kLegendPad / 2};
}

// The corner where the legend hides the fewest sampled points of the curves (upper right on ties).
Box place_legend(Box size, const LineChart& chart, const Axis& xa, const Axis& ya, const Area& area) {
  constexpr int kInset = 10;
  const std::array<Box, 4> corners = {{
      {area.x1 - kInset - size.w, area.y0 + kInset, size.w, size.h},
      {area.x1 - kInset - size.w, area.y1 - kInset - size.h, size.w, size.h},
      {area.x0 + kInset, area.y0 + kInset, size.w, size.h},
      {area.x0 + kInset, area.y1 - kInset - size.h, size.w, size.h},
  }};
  std::vector<Point> samples;
  auto sample_line = [&](Point a, Point b) {
    const int n = std::max(1, static_cast<int>(std::min(4000.0, std::hypot(b.x - a.x, b.y - a.y) / 3)));
    for (int k = 0; k <= n; ++k) samples.push_back({a.x + (b.x - a.x) * k / n, a.y + (b.y - a.y) * k / n});
  };
  for (const Series& s : chart.series)
    for (const auto& run : series_runs(s, xa, ya, area)) {
      if (run.size() == 1) samples.push_back(run[0]);
      for (std::size_t i = 1; i < run.size(); ++i) sample_line(run[i - 1], run[i]);
    }
  if (chart.diagonal) {
    const double t0 = std::max(xa.lo, ya.lo), t1 = std::min(xa.hi, ya.hi);
    if (t1 > t0) sample_line({x_px(xa, area, t0), y_px(ya, area, t0)}, {x_px(xa, area, t1), y_px(ya, area, t1)});
  }
  std::size_t best = 0, best_hits = std::numeric_limits<std::size_t>::max();
  for (std::size_t c = 0; c < corners.size(); ++c) {
    const Box grown_box{corners[c].x - 4, corners[c].y - 4, corners[c].w + 8, corners[c].h + 8};
    std::size_t hits = 0;
    for (const Point& p : samples) hits += grown_box.contains(p.x, p.y) ? 1 : 0;
    if (hits < best_hits) {
      best = c;
      best_hits = hits;
    }
  }
  return corners[best];
}

void draw_legend(Raster& r, const std::vector<LegendEntry>& entries, Box box) {
  fill_rect(r, box.x, box.y, box.w, box.h, kWhite);
  stroke_rect(r, box.x, box.y, box.w, box.h, kFrame);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const int cy = box.y + kLegendPad + static_cast<int>(i) * kLegendRow + kLegendRow / 2 - 2;
    const double sx0 = box.x + kLegendPad, sx1 = sx0 + kLegendSample;
    CoverageMask mask(r, ClipRect{box.x, box.y, box.w, box.h});
    stamp_stroke(mask, {{sx0, double(cy)}, {sx1, double(cy)}}, e.width, e.dashed);
    mask.paint(r, e.colour);
    if (e.marker) fill_circle(r, (sx0 + sx1) / 2, cy, kMarkerRadius, e.colour);
    draw_text(r, static_cast<int>(sx1) + 8, cy, e.label, kInk, kBodyScale, HAlign::kLeft, VAlign::kMiddle);
  }
}

// As many x ticks as fit without their labels touching.
Axis make_x_axis(const LineChart& chart, const DataRange& d, const Area& area) {
  int intervals = std::max(1, area.w() / 80);
  Axis axis = make_axis(d.x_lo, d.x_hi, chart.x_min, chart.x_max, intervals);
  while (intervals > 1) {
    const double px_per_tick =
        axis.ticks.size() > 1 ? double(area.w()) * axis.step.value() / (axis.hi - axis.lo) : area.w();
    if (px_per_tick >= max_label_width(axis, kBodyScale) + 16) break;
    axis = make_axis(d.x_lo, d.x_hi, chart.x_min, chart.x_max, --intervals);
  }
  return axis;
}

// Blits `src` into `dst` with its top-left corner at (x, y).
void blit(Raster& dst, const Raster& src, int x, int y) {
  for (int sy = 0; sy < src.height; ++sy)
    for (int sx = 0; sx < src.width; ++sx) dst.set(x + sx, y + sy, src.at(sx, sy));
}

// ---- confusion matrix ----------------------------------------------------------------------------------

// White to blue, after matplotlib's "Blues": even steps in lightness, readable in greyscale print.
Rgb blues(double t) {
  static constexpr std::array<Rgb, 5> kStops = {
      {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}}};
  t = clampd(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * (kStops.size() - 1);
  const std::size_t i = std::min(kStops.size() - 2, static_cast<std::size_t>(t));
  return mix(kStops[i], kStops[i + 1], t - i);
}

bool is_dark(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 140; }

// Whole percent from 10% up, one decimal below; never rounds to a misleading 100% or 0.0%.
std::string format_percent(double fraction) {
  char buf[32];
  if (fraction >= 1) return "100%";
  if (fraction >= 0.1) {
    const long pct = std::lround(100 * fraction);
    if (pct >= 100) return ">99%";
    std::snprintf(buf, sizeof buf, "%ld%%", pct);
    return buf;
  }
  if (fraction < 0.0005) return "<0.1%";
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return std::string(buf) == "10.0%" ? "10%" : buf;
}

std::optional<Error> check_heatmap(const Heatmap& h) {
  const std::size_t n = h.labels.size();
  if (n == 0) return invalid("confusion matrix has no class labels");
  if (n > 100) return invalid("confusion matrix has " + std::to_string(n) + " classes; at most 100 can be drawn");
  if (h.counts.size() != n * n)
    return invalid("confusion matrix for " + std::to_string(n) + " classes needs " + std::to_string(n * n) +
                   " counts (n x n), got " + std::to_string(h.counts.size()));
  for (long long c : h.counts)
    if (c < 0) return invalid("confusion matrix has a negative count (" + std::to_string(c) + ")");
  return std::nullopt;
}

// Everything about the matrix figure that depends on label sizes, found before drawing.
struct MatrixLayout {
  double label_scale = kBodyScale;
  std::vector<std::string> row_labels, col_labels;  // abbreviated to fit
  int row_label_w = 0, col_label_w = 0;             // widest of each, px
  bool rotate_columns = true;
  int cell = 0;
  int grid_x = 0, grid_y = 0;  // top-left of the cells
};

std::vector<std::string> abbreviated(const std::vector<std::string>& labels, double scale, int max_width) {
  std::vector<std::string> out;
  for (const auto& l : labels) out.push_back(abbreviate(printable(l), scale, max_width));
  return out;
}

int widest(const std::vector<std::string>& labels, double scale) {
  int w = 0;
  for (const auto& l : labels) w = std::max(w, measure_text(l, scale).width);
  return w;
}

MatrixLayout layout_matrix(const Heatmap& h, int width, int height) {
  const int n = static_cast<int>(h.labels.size());
  const int text_h = text_height_px(kBodyScale);
  const int title_block = h.title.empty() ? 0 : text_h + 16;
  const int ylabel_block = h.y_label.empty() ? 0 : text_h + 12;
  const int xlabel_block = h.x_label.empty() ? 0 : text_h + 12;
  MatrixLayout best;
  // Smaller label text only when the cells get too small to hold a row of it.
  for (double scale : {2.0, 1.5, 1.0}) {
    MatrixLayout m;
    m.label_scale = scale;
    // Turned column labels are cut shorter than row labels: the figure's height also holds the title
    // and the x label. Both limits keep names like "erythroblast" whole at 720 px.
    m.row_labels = abbreviated(h.labels, scale, static_cast<int>(0.24 * width));
    m.row_label_w = widest(m.row_labels, scale);
    const int avail_w = width - 2 * kPad - ylabel_block - m.row_label_w - 10;
    const int avail_h_flat = height - 2 * kPad - title_block - xlabel_block - text_height_px(scale) - 10;
    // Column labels lie flat when every one fits its column, which keeps them easiest to read.
    const int flat_cell = std::min(avail_w, avail_h_flat) / n;
    m.rotate_columns = flat_cell < m.row_label_w + 8;
    m.col_labels = m.rotate_columns ? abbreviated(h.labels, scale, static_cast<int>(0.19 * height)) : m.row_labels;
    m.col_label_w = widest(m.col_labels, scale);
    const int avail_h_rot = height - 2 * kPad - title_block - xlabel_block - m.col_label_w - 10;
    m.cell = std::max(0, std::min(avail_w, m.rotate_columns ? avail_h_rot : avail_h_flat) / n);
    const int bottom_block = 10 + (m.rotate_columns ? m.col_label_w : text_height_px(scale)) + xlabel_block;
    // Centre the whole composition (labels and grid) in the figure.
    const int content_w = ylabel_block + m.row_label_w + 10 + n * m.cell;
    const int content_h = title_block + n * m.cell + bottom_block;
    m.grid_x = (width - content_w) / 2 + ylabel_block + m.row_label_w + 10;
    m.grid_y = (height - content_h) / 2 + title_block;
    best = m;
    if (m.cell >= text_height_px(scale) + 4) break;
  }
  return best;
}

struct CellText {
  std::string count, percent;  // percent empty for a zero count or an empty row
  double fraction = 0;
};

std::vector<CellText> cell_texts(const Heatmap& h, const std::vector<long long>& row_sums) {
  const std::size_t n = h.labels.size();
  std::vector<CellText> out(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      CellText& t = out[i * n + j];
      const long long count = h.counts[i * n + j];
      t.count = std::to_string(count);
      t.fraction = row_sums[i] > 0 ? double(count) / row_sums[i] : 0.0;
      if (count > 0) t.percent = format_percent(t.fraction);
    }
  return out;
}

constexpr double kCellLineGap = 4;  // font units between the count and the percentage

// The largest text scale at which every cell's lines fit its square; 0 when none does.
double cell_text_scale(const std::vector<CellText>& texts, int cell, bool with_percent) {
  for (double scale : {2.0, 1.5, 1.25, 1.0}) {
    int widest = 0;
    for (const CellText& t : texts) {
      widest = std::max(widest, measure_text(t.count, scale).width + 1);  // +1: the count is bold
      if (with_percent) widest = std::max(widest, measure_text(t.percent, scale).width);
    }
    const double lines_h = (with_percent ? 2 * kCapUnits + kCellLineGap : kCapUnits) * scale;
    if (widest + 6 <= cell && lines_h + 6 <= cell) return scale;
  }
  return 0;
}

// Count (bold) over row percentage; zero cells show a grey "0" alone so the eye goes to the errors.
void draw_cell_texts(Raster& r, const Heatmap& h, const MatrixLayout& m, const std::vector<long long>& row_sums) {
  constexpr Rgb kZero{165, 165, 165};
  const int n = static_cast<int>(h.labels.size());
  const std::vector<CellText> texts = cell_texts(h, row_sums);
  bool with_percent = true;
  double scale = cell_text_scale(texts, m.cell, true);
  if (scale == 0) {
    with_percent = false;
    scale = cell_text_scale(texts, m.cell, false);
  }
  if (scale == 0) return;  // cells too small for any text: the shading alone tells the story
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const CellText& t = texts[static_cast<std::size_t>(i) * n + j];
      const Rgb ink = is_dark(blues(t.fraction)) ? kWhite : kInk;
      const int cx = m.grid_x + j * m.cell + m.cell / 2, cy = m.grid_y + i * m.cell + m.cell / 2;
      if (!with_percent || t.percent.empty()) {
        const Rgb c = t.count == "0" ? kZero : ink;
        draw_bold_text(r, cx, cy, t.count, c, scale, HAlign::kCenter, VAlign::kMiddle);
        continue;
      }
      const double block = (2 * kCapUnits + kCellLineGap) * scale;
      const int top = static_cast<int>(std::lround(cy - block / 2));
      draw_bold_text(r, cx, top, t.count, ink, scale, HAlign::kCenter, VAlign::kTop);
      draw_text(r, cx, static_cast<int>(std::lround(top + (kCapUnits + kCellLineGap) * scale)), t.percent, ink, scale,
                HAlign::kCenter, VAlign::kTop);
    }
}

void draw_class_labels(Raster& r, const MatrixLayout& m) {
  const int n = static_cast<int>(m.row_labels.size());
  const int bottom = m.grid_y + n * m.cell;
  for (int i = 0; i < n; ++i) {
    const int centre_row = m.grid_y + i * m.cell + m.cell / 2;
    const int centre_col = m.grid_x + i * m.cell + m.cell / 2;
    draw_text(r, m.grid_x - 10, centre_row, m.row_labels[i], kInk, m.label_scale, HAlign::kRight, VAlign::kMiddle);
    if (m.rotate_columns)
      draw_text_rotated(r, centre_col, bottom + 10, m.col_labels[i], kInk, m.label_scale, HAlign::kCenter,
                        VAlign::kTop);
    else
      draw_text(r, centre_col, bottom + 10, m.col_labels[i], kInk, m.label_scale, HAlign::kCenter, VAlign::kTop);
  }
}

Result<bool> write_raster(const Result<Raster>& raster, const std::string& path) {
  if (!raster) return raster.error();
  return write_png(raster.value(), path);
}

}  // namespace

// ---- Raster and primitives -----------------------------------------------------------------------------

Rgb palette_colour(std::size_t index) {
  static constexpr std::array<Rgb, 8> kOkabeIto = {{
      {0, 114, 178},    // blue
      {213, 94, 0},     // vermillion
      {0, 158, 115},    // bluish green
      {204, 121, 167},  // reddish purple
      {230, 159, 0},    // orange
      {86, 180, 233},   // sky blue
      {40, 40, 40},     // black (softened)
      {240, 228, 66},   // yellow: last, it is faint on white
  }};
  return kOkabeIto[index % kOkabeIto.size()];
}

Raster::Raster(int w, int h, Rgb fill) : width(std::max(0, w)), height(std::max(0, h)) {
  rgb.resize(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = fill.r;
    rgb[i + 1] = fill.g;
    rgb[i + 2] = fill.b;
  }
}

Rgb Raster::at(int x, int y) const {
  if (!contains(x, y)) return {};
  const std::size_t i = (static_cast<std::size_t>(y) * width + x) * 3;
  return {rgb[i], rgb[i + 1], rgb[i + 2]};
}

void Raster::set(int x, int y, Rgb c) {
  if (!contains(x, y)) return;
  const std::size_t i = (static_cast<std::size_t>(y) * width + x) * 3;
  rgb[i] = c.r;
  rgb[i + 1] = c.g;
  rgb[i + 2] = c.b;
}

void Raster::blend(int x, int y, Rgb c, double coverage) {
  if (!contains(x, y) || !(coverage > 0)) return;
  set(x, y, mix(at(x, y), c, std::min(1.0, coverage)));
}

void fill_rect(Raster& r, int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = static_cast<int>(std::min<long long>(r.width, static_cast<long long>(x) + w));
  const int y1 = static_cast<int>(std::min<long long>(r.height, static_cast<long long>(y) + h));
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) r.set(xx, yy, c);
}

void stroke_rect(Raster& r, int x, int y, int w, int h, Rgb c, int thickness) {
  if (w <= 0 || h <= 0 || thickness <= 0) return;
  const int t = std::min({thickness, (w + 1) / 2, (h + 1) / 2});
  fill_rect(r, x, y, w, t, c);
  fill_rect(r, x, y + h - t, w, t, c);
  fill_rect(r, x, y, t, h, c);
  fill_rect(r, x + w - t, y, t, h, c);
}

void draw_line(Raster& r, double x0, double y0, double x1, double y1, Rgb c, double width) {
  draw_polyline(r, {{x0, y0}, {x1, y1}}, c, width);
}

void draw_dashed_line(Raster& r, double x0, double y0, double x1, double y1, Rgb c, double width, double dash,
                      double gap) {
  CoverageMask mask(r, std::nullopt);
  stamp_dashed(mask, {{x0, y0}, {x1, y1}}, width, dash, gap);
  mask.paint(r, c);
}

void draw_polyline(Raster& r, const std::vector<Point>& points, Rgb c, double width, std::optional<ClipRect> clip) {
  if (points.empty() || !(width > 0)) return;
  CoverageMask mask(r, clip);
  if (points.size() == 1) mask.stamp_disc(points[0], width / 2);
  for (std::size_t i = 1; i < points.size(); ++i) mask.stamp_segment(points[i - 1], points[i], width);
  mask.paint(r, c);
}

void fill_circle(Raster& r, double cx, double cy, double radius, Rgb c) {
  if (!(radius > 0)) return;
  CoverageMask mask(r, ClipRect{static_cast<int>(clampd(std::floor(cx - radius - 2), -1, r.width + 1)),
                                static_cast<int>(clampd(std::floor(cy - radius - 2), -1, r.height + 1)),
                                static_cast<int>(std::min(2.0 * radius + 5, double(kMaxSide))),
                                static_cast<int>(std::min(2.0 * radius + 5, double(kMaxSide)))});
  mask.stamp_disc({cx, cy}, radius);
  mask.paint(r, c);
}

// ---- text ----------------------------------------------------------------------------------------------

TextSize measure_text(const std::string& text, double scale) {
  if (!(scale > 0)) return {};
  float ink = 0;
  for (const Quad& q : glyph_quads(text)) ink = std::max(ink, q.x1);
  return {static_cast<int>(std::ceil(ink * scale - 1e-6)), text_height_px(scale)};
}

void draw_text(Raster& r, int x, int y, const std::string& text, Rgb c, double scale, HAlign h, VAlign v) {
  if (!(scale > 0) || scale > 50) return;
  const Mask m = rasterise_text(text, scale);
  const int ox = h == HAlign::kLeft ? x : h == HAlign::kCenter ? x - m.w / 2 : x - m.w;
  const int oy = v == VAlign::kTop ? y : v == VAlign::kMiddle ? y - cap_middle_px(scale) : y - m.h;
  paint_mask(r, m, ox, oy, c);
}

void draw_text_rotated(Raster& r, int x, int y, const std::string& text, Rgb c, double scale, HAlign h, VAlign v) {
  if (!(scale > 0) || scale > 50) return;
  const Mask m = rotate_ccw(rasterise_text(text, scale));
  // Turned, the capitals' centre line is a column cap_middle_px from the left edge.
  const int ox = h == HAlign::kLeft ? x : h == HAlign::kCenter ? x - cap_middle_px(scale) : x - m.w;
  const int oy = v == VAlign::kTop ? y : v == VAlign::kMiddle ? y - m.h / 2 : y - m.h;
  paint_mask(r, m, ox, oy, c);
}

// ---- axes ----------------------------------------------------------------------------------------------

double nice_step(double lo, double hi, int max_intervals) {
  const auto step = choose_step(lo, hi, max_intervals);
  return step ? step->value() : 0.0;
}

std::vector<double> nice_ticks(double lo, double hi, int max_intervals) {
  const auto step = choose_step(lo, hi, max_intervals);
  if (!step) return {};
  return ticks_at(lo, hi, *step);
}

std::string format_tick(double value, double step) {
  char buf[64];
  if (!std::isfinite(value)) return "?";
  if (std::fabs(value) >= 1e7 || (step > 0 && step < 1e-6)) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
    return buf;
  }
  int decimals = 0;
  if (step > 0 && std::isfinite(step)) decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  if (step > 0 && std::fabs(value) < step * 1e-6) value = 0;  // no "-0.0"
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 9), value);
  return buf;
}

// ---- charts --------------------------------------------------------------------------------------------

Result<Raster> render_line_chart(const LineChart& chart, int width, int height) {
  if (auto e = check_size(width, height, 320, 240)) return *e;
  if (auto e = check_chart(chart)) return *e;
  const DataRange d = data_range(chart);
  if (!std::isfinite(d.x_hi - d.x_lo) || !std::isfinite(d.y_hi - d.y_lo))
    return invalid("line chart '" + chart.title + "': data range too large to draw");

  // Vertical margins do not depend on tick values; they fix the plot height, the height fixes the y
  // ticks, their labels fix the left margin, and that fixes the x ticks.
  const int text_h = text_height_px(kBodyScale);
  Area area;
  area.y0 = kPad + (chart.title.empty() ? 8 : text_h + 16);
  area.y1 = height - 1 - (kPad + (chart.x_label.empty() ? 0 : text_h + 10) + text_h + kTickLen + 6);
  const Axis ya = make_axis(d.y_lo, d.y_hi, chart.y_min, chart.y_max, std::max(1, area.h() / 60));
  area.x0 = kPad + (chart.y_label.empty() ? 0 : text_h + 12) + max_label_width(ya, kBodyScale) + kTickLen + 6;
  area.x1 = width - 1 - (kPad + 16);
  Axis xa = make_x_axis(chart, d, area);
  // The last x label is centred on the right end of the axis: keep its right half inside the figure.
  if (!xa.ticks.empty()) {
    const int half = measure_text(format_tick(xa.ticks.back(), xa.step.value()), kBodyScale).width / 2;
    const int overhang = static_cast<int>(std::lround(x_px(xa, area, xa.ticks.back()))) + half - (width - 1 - kPad);
    if (overhang > 0) {
      area.x1 -= overhang;
      xa = make_x_axis(chart, d, area);
    }
  }
  if (area.w() < 60 || area.h() < 60)
    return invalid("figure " + std::to_string(width) + "x" + std::to_string(height) +
                   " is too small for the labels of '" + chart.title + "'");

  Raster r(width, height, kWhite);
  draw_grid(r, xa, ya, area);
  if (chart.diagonal) draw_diagonal(r, xa, ya, area);
  for (std::size_t i = 0; i < chart.series.size(); ++i) draw_series(r, chart, i, xa, ya, area);
  draw_axes(r, xa, ya, area);
  const int mid_x = (area.x0 + area.x1) / 2;
  if (!chart.title.empty()) draw_title(r, mid_x, kPad, chart.title);
  // Axis labels longer than their axis are cut rather than run off the figure.
  if (!chart.x_label.empty())
    draw_text(r, mid_x, height - kPad, abbreviate(chart.x_label, kBodyScale, area.w() + 40), kInk, kBodyScale,
              HAlign::kCenter, VAlign::kBottom);
  if (!chart.y_label.empty())
    draw_text_rotated(r, kPad, (area.y0 + area.y1) / 2, abbreviate(chart.y_label, kBodyScale, area.h() + 40), kInk,
                      kBodyScale, HAlign::kLeft, VAlign::kMiddle);
  const auto entries = legend_entries(chart);
  if (!entries.empty()) draw_legend(r, entries, place_legend(legend_size(entries), chart, xa, ya, area));
  return Result<Raster>(std::move(r));
}

Result<Raster> render_confusion_matrix(const Heatmap& heatmap, int width, int height) {
  if (auto e = check_size(width, height, 240, 240)) return *e;
  if (auto e = check_heatmap(heatmap)) return *e;
  const int n = static_cast<int>(heatmap.labels.size());
  const MatrixLayout m = layout_matrix(heatmap, width, height);
  if (m.cell < 4)
    return invalid("figure " + std::to_string(width) + "x" + std::to_string(height) + " is too small for " +
                   std::to_string(n) + " classes");
  std::vector<long long> row_sums(n, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) row_sums[i] += heatmap.counts[static_cast<std::size_t>(i) * n + j];

  Raster r(width, height, kWhite);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double frac =
          row_sums[i] > 0 ? double(heatmap.counts[static_cast<std::size_t>(i) * n + j]) / row_sums[i] : 0.0;
      fill_rect(r, m.grid_x + j * m.cell, m.grid_y + i * m.cell, m.cell, m.cell, blues(frac));
    }
  // Hairlines between cells keep neighbouring pale cells apart.
  for (int k = 1; k < n; ++k) {
    fill_rect(r, m.grid_x + k * m.cell, m.grid_y, 1, n * m.cell, kWhite);
    fill_rect(r, m.grid_x, m.grid_y + k * m.cell, n * m.cell, 1, kWhite);
  }
  stroke_rect(r, m.grid_x, m.grid_y, n * m.cell, n * m.cell, kFrame);
  draw_cell_texts(r, heatmap, m, row_sums);
  draw_class_labels(r, m);

  const int text_h = text_height_px(kBodyScale);
  const int grid_mid_x = m.grid_x + n * m.cell / 2, grid_mid_y = m.grid_y + n * m.cell / 2;
  if (!heatmap.title.empty()) draw_title(r, grid_mid_x, m.grid_y - text_h - 16, heatmap.title);
  const int labels_bottom =
      m.grid_y + n * m.cell + 10 + (m.rotate_columns ? m.col_label_w : text_height_px(m.label_scale));
  if (!heatmap.x_label.empty())
    draw_text(r, grid_mid_x, labels_bottom + 12, abbreviate(heatmap.x_label, kBodyScale, n * m.cell + 40), kInk,
              kBodyScale, HAlign::kCenter, VAlign::kTop);
  if (!heatmap.y_label.empty())
    draw_text_rotated(r, m.grid_x - 10 - m.row_label_w - 12, grid_mid_y,
                      abbreviate(heatmap.y_label, kBodyScale, n * m.cell + 40), kInk, kBodyScale, HAlign::kRight,
                      VAlign::kMiddle);
  return Result<Raster>(std::move(r));
}

// ---- output --------------------------------------------------------------------------------------------

namespace {

Result<bool> check_raster(const Raster& raster) {
  if (raster.width <= 0 || raster.height <= 0 ||
      raster.rgb.size() != static_cast<std::size_t>(raster.width) * raster.height * 3)
    return invalid("cannot encode a " + std::to_string(raster.width) + "x" + std::to_string(raster.height) +
                   " raster with " + std::to_string(raster.rgb.size()) + " bytes as PNG");
  return true;
}

}  // namespace

Result<std::vector<std::uint8_t>> encode_png(const Raster& raster) {
  Result<bool> valid = check_raster(raster);
  if (!valid) return valid.error();
  return native::encode_png(raster.width, raster.height, 3, raster.rgb.data(), raster.width * 3);
}

Result<bool> write_png(const Raster& raster, const std::string& path) {
  Result<bool> valid = check_raster(raster);
  if (!valid) return valid.error();
  return native::write_png(path, raster.width, raster.height, 3, raster.rgb.data(), raster.width * 3);
}

Result<bool> plot_training_curves(const std::string& path, const std::vector<double>& epochs,
                                  const std::vector<double>& train_loss, const std::vector<double>& val_loss,
                                  const std::vector<double>& train_acc, const std::vector<double>& val_acc) {
  if (epochs.empty()) return invalid("training curves: no epochs");
  if (train_loss.empty()) return invalid("training curves: no training loss");
  const std::array<std::pair<const std::vector<double>*, const char*>, 4> all = {
      {{&train_loss, "train_loss"}, {&val_loss, "val_loss"}, {&train_acc, "train_acc"}, {&val_acc, "val_acc"}}};
  for (const auto& [v, name] : all)
    if (!v->empty() && v->size() != epochs.size())
      return invalid(std::string("training curves: ") + name + " has " + std::to_string(v->size()) + " values for " +
                     std::to_string(epochs.size()) + " epochs");

  // Train and validation keep their colours in both panels; an absent curve is left out, not an error.
  auto add = [&](LineChart& chart, const std::vector<double>& y, const char* label, std::size_t colour) {
    const bool any = std::any_of(y.begin(), y.end(), [](double v) { return std::isfinite(v); });
    if (any) chart.series.push_back(Series{label, epochs, y, palette_colour(colour), false});
  };
  LineChart loss{"Loss", "epoch", "loss", {}, std::nullopt, std::nullopt, std::nullopt, std::nullopt, false, true};
  add(loss, train_loss, "train", 0);
  add(loss, val_loss, "validation", 1);
  LineChart acc{"Accuracy",   "epoch",      "accuracy",   {},    std::nullopt,
                std::nullopt, std::nullopt, std::nullopt, false, true};
  add(acc, train_acc, "train", 0);
  add(acc, val_acc, "validation", 1);
  if (loss.series.empty()) return invalid("training curves: training loss has no finite value");
  bool fractions = !acc.series.empty();
  for (const Series& s : acc.series)
    for (double v : s.y) fractions = fractions && (!std::isfinite(v) || (v >= 0 && v <= 1));
  if (fractions) acc.y_max = 1.0;  // accuracy cannot exceed 1: no empty band above it

  if (acc.series.empty()) return write_raster(render_line_chart(loss, 800, 560), path);
  constexpr int kPanelW = 700, kPanelH = 520;
  Result<Raster> left = render_line_chart(loss, kPanelW, kPanelH);
  if (!left) return left.error();
  Result<Raster> right = render_line_chart(acc, kPanelW, kPanelH);
  if (!right) return right.error();
  Raster both(2 * kPanelW, kPanelH, kWhite);
  blit(both, left.value(), 0, 0);
  blit(both, right.value(), kPanelW, 0);
  return write_png(both, path);
}

Result<bool> plot_roc(const std::string& path, std::vector<Series> curves) {
  if (curves.empty()) return invalid("ROC plot: no curves");
  LineChart chart;
  chart.title = curves.size() == 1 ? "ROC curve" : "ROC curves";
  chart.x_label = "false positive rate";
  chart.y_label = "true positive rate";
  chart.series = std::move(curves);
  chart.x_min = 0.0;
  chart.x_max = 1.0;
  chart.y_min = 0.0;
  chart.y_max = 1.0;
  chart.diagonal = true;
  chart.markers = false;
  // Close to a square plot area, so the diagonal is at 45 degrees.
  return write_raster(render_line_chart(chart, 680, 640), path);
}

Result<bool> plot_reliability(const std::string& path, const std::vector<Series>& curves) {
  if (curves.empty()) return invalid("reliability diagram: no curves");
  LineChart chart;
  chart.title = "Reliability diagram";
  chart.x_label = "mean predicted confidence (top class)";
  chart.y_label = "observed accuracy";
  chart.series = curves;
  chart.x_min = 0.0;
  chart.x_max = 1.0;
  chart.y_min = 0.0;
  chart.y_max = 1.0;
  chart.diagonal = true;
  chart.diagonal_label = "perfect calibration";
  chart.markers = true;
  return write_raster(render_line_chart(chart, 680, 640), path);
}

Result<bool> plot_referral(const std::string& path, const std::vector<Series>& curves) {
  if (curves.empty()) return invalid("referral curve: no curves");
  LineChart chart;
  chart.title = "Referral: accuracy on the images kept";
  chart.x_label = "share referred for review (least certain first)";
  chart.y_label = "accuracy on the rest";
  chart.series = curves;
  chart.x_min = 0.0;
  chart.y_max = 1.0;
  chart.markers = true;
  return write_raster(render_line_chart(chart, 760, 560), path);
}

Result<bool> plot_confusion(const std::string& path, const std::vector<std::string>& labels,
                            const std::vector<long long>& counts) {
  Heatmap h{"Confusion matrix", "predicted class", "true class", labels, counts};
  if (auto e = check_heatmap(h)) return *e;
  long long total = 0, correct = 0;
  const std::size_t n = labels.size();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      total += counts[i * n + j];
      if (i == j) correct += counts[i * n + j];
    }
  if (total > 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "Confusion matrix (n = %lld, accuracy %.1f%%)", total, 100.0 * correct / total);
    h.title = buf;
  }
  return write_raster(render_confusion_matrix(h, 720, 720), path);
}

}  // namespace cellcam::report
