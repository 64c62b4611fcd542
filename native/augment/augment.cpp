// augment.cpp — the transforms, their random draws and the CLI syntax; the order of operations and the
// determinism contract are in augment.h.
//
// Bit-exactness rules, as in shared/src/preprocess.cpp: IEEE +,-,*,/, sqrt and exact rounding only, sums
// in a fixed order, no libm transcendental calls (log2/exp2/sin/cos below are ours), no FMA contraction.
// Speed matters: apply() runs once per training sample per epoch. So all geometry is one resampling
// pass, the colour and blur passes run on channel planes in loops the compiler vectorises (see the
// -fno-trapping-math note in CMakeLists.txt), and per-pixel work avoids divisions and modulo.
#include "augment.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <random>
#include <system_error>
#include <vector>

namespace cellcam::augment {
namespace {

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------- portable elementary functions
// libm's exp/log/sin/cos may differ in the last bit between glibc versions and CPU dispatch paths
// (FMA or not); these use basic operations and integer conversions only. The stain jitter takes a log
// and an exp of every value of the canvas, so those two are float, base 2 (the reductions are then
// exact and the ln 2 factors fold into the stain matrices), branch-free, and written so their loops
// vectorise: a vector lane performs exactly the scalar operations, so the bits do not depend on it.

constexpr double kLn2 = 0.69314718055994530942;

inline float bits_to_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t float_to_bits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof f);
  return bits;
}

// -log2(max(x, 1e-6)): optical density in bits (times ln 2 it is skimage's -ln(max(x, 1e-6)); the
// floor gives an RGB of 0 a density of 13.8 in natural units). Relative error ~1e-7 (float rounding).
// The floor and the mantissa range are handled on the integer bits: GCC turns a float select feeding
// arithmetic back into a branch, which stops vectorisation.
inline float density_bits(float x) {
  constexpr std::int32_t kFloorBits = 0x358637bd;  // 1e-6f; positive floats order as their bits
  constexpr std::int32_t kSqrt2Bits = 0x3fb504f3;  // sqrt(2) as a float
  std::int32_t bits = static_cast<std::int32_t>(float_to_bits(x));
  bits = bits > kFloorBits ? bits : kFloorBits;  // negatives too (their bits are negative); NaN stays finite below
  std::int32_t e = (bits >> 23) - 127;
  std::int32_t mantissa = (bits & 0x007fffff) | 0x3f800000;  // m in [1, 2)
  const std::int32_t high = mantissa > kSqrt2Bits ? 1 : 0;
  mantissa -= high << 23;  // m / 2: now in [sqrt(1/2), sqrt(2)]
  e += high;
  const float m = bits_to_float(static_cast<std::uint32_t>(mantissa));
  // log2 m = (2 / ln 2) atanh(s), s = (m-1)/(m+1), |s| <= 0.172: series to s^9, truncation below 1e-9.
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 0.320598897975325f;  // (2 / ln 2) / 9
  p = 0.412198583111132f + s2 * p;  // / 7
  p = 0.577078016355585f + s2 * p;  // / 5
  p = 0.961796693925976f + s2 * p;  // / 3
  p = 2.885390081777927f + s2 * p;  // 2 / ln 2
  return -(static_cast<float>(e) + s * p);
}

// Brings x into exp2_float's domain, [-126, 127] (the normal range of float); NaN -> -126.
inline float exp2_domain(float x) { return x > -126.0f ? (x < 127.0f ? x : 127.0f) : -126.0f; }

// 2^x for x already in exp2_domain (clamping inside would stop the loops vectorising). Relative error ~1e-7.
inline float exp2_float(float x) {
  const std::int32_t k = static_cast<std::int32_t>(x + (x >= 0.0f ? 0.5f : -0.5f));  // nearest integer
  const float r = x - static_cast<float>(k);  // exact, |r| <= 1/2
  // 2^r = e^(r ln 2), Taylor to (r ln 2)^7 (Horner in r): truncation below 1e-8 relative.
  float p = 1.525273380405984e-05f;  // ln2^7 / 7!
  p = 1.540353039338161e-04f + r * p;
  p = 1.333355814642844e-03f + r * p;
  p = 9.618129107628477e-03f + r * p;
  p = 5.550410866482158e-02f + r * p;
  p = 2.402265069591007e-01f + r * p;
  p = 6.931471805599453e-01f + r * p;
  p = 1.0f + r * p;
  return p * bits_to_float(static_cast<std::uint32_t>(k + 127) << 23);
}

// floor for |x| < 2^31 without a libm call (x86-64's baseline has no rounding instruction).
inline int floor_int(double x) {
  const int i = static_cast<int>(x);
  return i > x ? i - 1 : i;
}

// sin and cos for |x| <= pi (angles are validated to [-180, 180] degrees and reduced before this).
void sin_cos_portable(double x, double* sin_out, double* cos_out) {
  const double x2 = x * x;
  double s = x, c = 1.0, ts = x, tc = 1.0;
  for (int n = 1; n <= 14; ++n) {  // pi^29 / 29! < 1e-16
    ts = -ts * x2 / ((2.0 * n) * (2.0 * n + 1.0));
    tc = -tc * x2 / ((2.0 * n - 1.0) * (2.0 * n));
    s = s + ts;
    c = c + tc;
  }
  *sin_out = s;
  *cos_out = c;
}

// Degrees to radians with the angle first brought into [-180, 180].
double radians(double degrees) {
  degrees = degrees - 360.0 * std::floor(degrees / 360.0 + 0.5);
  return degrees * (kPi / 180.0);
}

// ---------------------------------------------------------------- random draws

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// mt19937_64's sequence is fixed by the standard; uniform_real_distribution's mapping is not.
class Rng {
 public:
  // The seed goes through splitmix64 first so that seeds 0, 1, 2 ... start far apart.
  explicit Rng(std::uint64_t seed) : engine_(splitmix64(seed)) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

 private:
  std::mt19937_64 engine_;
};

// ---------------------------------------------------------------- the spec table

// Drives parse_augment, describe and validate, so the three cannot disagree.
struct Field {
  const char* name;
  Transform AugmentSpec::*member;
  bool has_strength;
  double default_strength;
  double min_strength;
  double max_strength;
};

const Field kFields[] = {
    {"hflip", &AugmentSpec::hflip, false, 0.0, 0.0, 0.0},
    {"vflip", &AugmentSpec::vflip, false, 0.0, 0.0, 0.0},
    {"rot90", &AugmentSpec::rot90, false, 0.0, 0.0, 0.0},
    {"rotate", &AugmentSpec::rotate, true, 30.0, 0.0, 180.0},
    {"zoom", &AugmentSpec::zoom, true, 0.1, 0.0, 0.9},  // scale >= 0.1: the inverse map stays bounded
    {"shift", &AugmentSpec::shift, true, 0.05, 0.0, 1.0},
    {"shear", &AugmentSpec::shear, true, 5.0, 0.0, 45.0},
    {"brightness", &AugmentSpec::brightness, true, 0.2, 0.0, 10.0},
    {"contrast", &AugmentSpec::contrast, true, 0.2, 0.0, 10.0},
    {"saturation", &AugmentSpec::saturation, true, 0.2, 0.0, 10.0},
    {"hue", &AugmentSpec::hue, true, 0.04, 0.0, 0.5},  // torchvision's limit: half a turn either way
    {"blur", &AugmentSpec::blur, true, 1.0, 0.1, 10.0},  // sigma is drawn from [0.1, s]
    {"hed", &AugmentSpec::hed, true, 0.03, 0.0, 1.0},
    {"erase", &AugmentSpec::erase, true, 0.33, 0.02, 1.0},  // the share is drawn from [0.02, s]
};

constexpr double kDefaultProbability = 0.5;

const Field* find_field(const std::string& name) {
  for (const Field& f : kFields)
    if (name == f.name) return &f;
  return nullptr;
}

// Shortest text that reads back as the same double.
std::string number(double x) {
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, x);
  return r.ec == std::errc() ? std::string(buf, r.ptr) : std::string("nan");
}

std::string range_text(const Field& f) {
  return "[" + number(f.min_strength) + ", " + number(f.max_strength) + "]";
}

bool strength_ok(const Field& f, double s) {
  return std::isfinite(s) && s >= f.min_strength && s <= f.max_strength;
}

bool probability_ok(double p) { return std::isfinite(p) && p >= 0.0 && p <= 1.0; }

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const std::size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Locale-independent (strtod would read "0,5" under a German LC_NUMERIC); the whole text must be used.
bool parse_number(const std::string& text, double* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const std::from_chars_result r = std::from_chars(text.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

std::string known_names() {
  std::string names = "none, cells, histology";
  for (const Field& f : kFields) names += std::string(", ") + f.name;
  return names;
}

void apply_preset_cells(AugmentSpec& s) {
  s.hflip = {kDefaultProbability, 0.0};
  s.vflip = {kDefaultProbability, 0.0};
  s.rot90 = {kDefaultProbability, 0.0};
  s.rotate = {kDefaultProbability, 180.0};
  s.zoom = {kDefaultProbability, 0.1};
  s.brightness = {kDefaultProbability, 0.1};
  s.contrast = {kDefaultProbability, 0.1};
}

void apply_preset_histology(AugmentSpec& s) {
  s.hflip = {kDefaultProbability, 0.0};
  s.vflip = {kDefaultProbability, 0.0};
  s.rot90 = {kDefaultProbability, 0.0};
  s.hed = {kDefaultProbability, 0.03};
  s.brightness = {kDefaultProbability, 0.1};
  s.contrast = {kDefaultProbability, 0.1};
  s.saturation = {kDefaultProbability, 0.1};
  s.hue = {kDefaultProbability, 0.04};
  s.blur = {0.2, 1.0};
}

// ---------------------------------------------------------------- working layout

// The canvas as separate channel planes while it is worked on: the colour and blur loops then run over
// contiguous floats and vectorise, which the interleaved (H,W,C) layout prevents. The geometry pass
// writes the planes, the last pass interleaves them back and clamps.
struct Planes {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<float> data;  // (C,H,W)
  std::size_t plane_size() const { return static_cast<std::size_t>(width) * height; }
  float* plane(int c) { return data.data() + c * plane_size(); }
};

float clamp01(float v) { return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; }  // NaN -> 0

void interleave_clamped(Planes& planes, Canvas& canvas) {  // (C,H,W) -> (H,W,C)
  const std::size_t n = planes.plane_size();
  const int C = planes.channels;
  for (int c = 0; c < C; ++c) {
    const float* src = planes.plane(c);
    float* dst = canvas.data.data() + c;
    for (std::size_t i = 0; i < n; ++i) dst[i * C] = clamp01(src[i]);
  }
}

// ---------------------------------------------------------------- geometry

// The flips and quarter turns as one exact map from an output pixel to its source pixel:
// source = (ox + xx*x + xy*y, oy + yx*x + yy*y), every coefficient -1, 0 or 1.
struct PixelMap {
  int ox = 0, oy = 0;
  int xx = 1, xy = 0;
  int yx = 0, yy = 1;
};

// hflip, then vflip, then k counter-clockwise quarter turns (numpy's rot90; square canvases only):
// an output pixel is traced back through the turn, then the vflip, then the hflip.
PixelMap flips_and_turns(int W, int H, bool hflip, bool vflip, int quarter_turns) {
  PixelMap m;
  const int n = W;
  switch (quarter_turns) {
    case 1: m.ox = n - 1; m.xx = 0; m.xy = -1; m.oy = 0; m.yx = 1; m.yy = 0; break;    // from (n-1-y, x)
    case 2: m.ox = n - 1; m.xx = -1; m.xy = 0; m.oy = n - 1; m.yx = 0; m.yy = -1; break;  // (n-1-x, n-1-y)
    case 3: m.ox = 0; m.xx = 0; m.xy = 1; m.oy = n - 1; m.yx = -1; m.yy = 0; break;    // (y, n-1-x)
    default: break;
  }
  if (vflip) {
    m.oy = H - 1 - m.oy;
    m.yx = -m.yx;
    m.yy = -m.yy;
  }
  if (hflip) {
    m.ox = W - 1 - m.ox;
    m.xx = -m.xx;
    m.xy = -m.xy;
  }
  return m;
}

// Index into [0, n) mirrored with the edge pixel repeated (…1 0 | 0 1 … n-1 | n-1 n-2…): OpenCV's
// BORDER_REFLECT, Keras's fill_mode="reflect". The in-range test first: most samples land inside.
int reflect(int i, int n) {
  if (static_cast<unsigned>(i) < static_cast<unsigned>(n)) return i;
  const int period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// Index into [0, n) with BORDER_REFLECT_101 (…2 1 | 0 1 … n-1 | n-2…), as preprocess's blur.
int reflect101(int i, int n) {
  if (static_cast<unsigned>(i) < static_cast<unsigned>(n)) return i;
  if (n == 1) return 0;
  const int period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// The whole geometry inverted, as one affine map from an output pixel to the position it samples in
// the input canvas: source = k + L (x, y). The warp's inverse is c + A^-1 (p - c - t), A = scale *
// R(angle) * Shear, composed about the centre c = ((W-1)/2, (H-1)/2) of the pixel grid so that the
// identity maps every pixel centre onto itself; after it come the quarter turns and flips backwards
// (PixelMap). Flips alone give integer coefficients, so they stay exact.
struct SourceMap {
  double kx, lxx, lxy;
  double ky, lyx, lyy;
};

SourceMap source_map(int W, int H, const PixelMap& map, const AugmentParams& p) {
  double sin_a, cos_a, sin_s, cos_s;
  sin_cos_portable(radians(p.angle_deg), &sin_a, &cos_a);
  sin_cos_portable(radians(p.shear_deg), &sin_s, &cos_s);
  const double tan_s = sin_s / cos_s;
  // A = scale * [[cos, sin], [-sin, cos]] * [[1, tan], [0, 1]]; y points down, so the rotation is
  // counter-clockwise on screen.
  const double a00 = p.scale * cos_a, a01 = p.scale * (cos_a * tan_s + sin_a);
  const double a10 = -p.scale * sin_a, a11 = p.scale * (-sin_a * tan_s + cos_a);
  const double det = a00 * a11 - a01 * a10;  // scale^2 > 0
  const double i00 = a11 / det, i01 = -a01 / det, i10 = -a10 / det, i11 = a00 / det;
  const double cx = (W - 1) * 0.5, cy = (H - 1) * 0.5;
  const double ux = cx + p.shift_x * W, uy = cy + p.shift_y * H;
  // Warp inverse: q = w + A^-1 p with w = c - A^-1 (c + t); then source = o + P q.
  const double wx = cx - (i00 * ux + i01 * uy), wy = cy - (i10 * ux + i11 * uy);
  SourceMap m;
  m.kx = map.ox + (map.xx * wx + map.xy * wy);
  m.ky = map.oy + (map.yx * wx + map.yy * wy);
  m.lxx = map.xx * i00 + map.xy * i10;
  m.lxy = map.xx * i01 + map.xy * i11;
  m.lyx = map.yx * i00 + map.yy * i10;
  m.lyy = map.yx * i01 + map.yy * i11;
  return m;
}

// All geometry in one pass, (H,W,C) canvas -> (C,H,W) planes, clamped to [0,1] (NaN -> 0) so the
// passes after it see finite values in range. Without a warp every output pixel is a copy of its
// mapped source. With one, the source position is sampled bilinearly with reflected
// borders, so the sample is resampled once whatever the flips and turns. Bilinear is written
// a + f (b - a) so that equal neighbours give exactly their value: a constant canvas stays constant
// and an identity warp is an exact copy.
template <int C>
void resample(const Canvas& in, const PixelMap& map, const SourceMap* warp, Planes& out) {
  const int W = in.width, H = in.height;
  const std::size_t stride = static_cast<std::size_t>(W) * C;
  const float* src = in.data.data();
  float* planes[C];
  for (int c = 0; c < C; ++c) planes[c] = out.plane(c);
  std::size_t o = 0;
  if (warp == nullptr) {
    for (int y = 0; y < H; ++y) {
      // Along a row the source index moves by a fixed step (the map's coefficients are -1, 0 or 1).
      const std::ptrdiff_t base = static_cast<std::ptrdiff_t>(map.oy + map.yy * y) * W + (map.ox + map.xy * y);
      const std::ptrdiff_t step = static_cast<std::ptrdiff_t>(map.yx) * W + map.xx;
      for (int x = 0; x < W; ++x, ++o) {
        const float* s = src + (base + step * x) * C;
        for (int c = 0; c < C; ++c) planes[c][o] = clamp01(s[c]);
      }
    }
    return;
  }
  for (int y = 0; y < H; ++y) {
    const double row_x = warp->kx + warp->lxy * y, row_y = warp->ky + warp->lyy * y;
    for (int x = 0; x < W; ++x, ++o) {
      double sx = row_x + warp->lxx * x, sy = row_y + warp->lyx * x;
      // Validated ranges stay far inside this; the int conversion below must never overflow.
      sx = sx > -1e6 ? (sx < 1e6 ? sx : 1e6) : -1e6;
      sy = sy > -1e6 ? (sy < 1e6 ? sy : 1e6) : -1e6;
      const int x0 = floor_int(sx), y0 = floor_int(sy);
      const float fx = static_cast<float>(sx - x0), fy = static_cast<float>(sy - y0);
      const float *v00, *v01, *v10, *v11;
      if (x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {  // the usual case: all four neighbours inside
        v00 = src + y0 * stride + static_cast<std::size_t>(x0) * C;
        v01 = v00 + C;
        v10 = v00 + stride;
        v11 = v10 + C;
      } else {
        const std::size_t xa = static_cast<std::size_t>(reflect(x0, W)) * C;
        const std::size_t xb = static_cast<std::size_t>(reflect(x0 + 1, W)) * C;
        const float* row_a = src + reflect(y0, H) * stride;
        const float* row_b = src + reflect(y0 + 1, H) * stride;
        v00 = row_a + xa;
        v01 = row_a + xb;
        v10 = row_b + xa;
        v11 = row_b + xb;
      }
      for (int c = 0; c < C; ++c) {
        const float top = v00[c] + fx * (v01[c] - v00[c]);
        const float bottom = v10[c] + fx * (v11[c] - v10[c]);
        planes[c][o] = clamp01(top + fy * (bottom - top));
      }
    }
  }
}

// ---------------------------------------------------------------- colour (torchvision ColorJitter)

// torchvision's rgb_to_grayscale weights.
inline float grey(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

void adjust_brightness(Planes& p, float f) {  // (C,H,W)
  for (float& v : p.data) v = clamp01(v * f);
}

// Blend towards the mean grey level of the whole image. The mean is summed in double over four
// interleaved accumulators (a fixed order, so deterministic, and not one long dependency chain).
void adjust_contrast(Planes& p, float f) {  // (C,H,W)
  const std::size_t n = p.plane_size();
  std::vector<float> level(n);
  if (p.channels == 3) {
    const float *r = p.plane(0), *g = p.plane(1), *b = p.plane(2);
    for (std::size_t i = 0; i < n; ++i) level[i] = grey(r[i], g[i], b[i]);
  } else {
    std::copy(p.plane(0), p.plane(0) + n, level.begin());
  }
  double sums[4] = {0.0, 0.0, 0.0, 0.0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) sums[k] += level[i + k];
  for (; i < n; ++i) sums[0] += level[i];
  const double mean = ((sums[0] + sums[1]) + (sums[2] + sums[3])) / static_cast<double>(n);
  const float mean_term = (1.0f - f) * static_cast<float>(mean);
  for (float& v : p.data) v = clamp01(f * v + mean_term);
}

void adjust_saturation(Planes& p, float f) {  // (3,H,W)
  const std::size_t n = p.plane_size();
  float *r = p.plane(0), *g = p.plane(1), *b = p.plane(2);
  const float keep = 1.0f - f;
  for (std::size_t i = 0; i < n; ++i) {
    const float level = keep * grey(r[i], g[i], b[i]);
    r[i] = clamp01(f * r[i] + level);
    g[i] = clamp01(f * g[i] + level);
    b[i] = clamp01(f * b[i] + level);
  }
}

// Hue turned by `shift` (a fraction of a turn), as torchvision's adjust_hue: RGB -> HSV with its
// _rgb2hsv (the sector picked by 0/1 masks, as there), HSV -> RGB with the branch-free form of
// _hsv2rgb: channel n (R 5, G 3, B 1) = v (1 - s w), w = clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6.
// Branch-free, so the loop vectorises. Inputs are finite and in [0,1] (the resampling pass clamps).
void adjust_hue(Planes& p, float shift) {  // (3,H,W)
  const std::size_t n = p.plane_size();
  float *rp = p.plane(0), *gp = p.plane(1), *bp = p.plane(2);
  for (std::size_t i = 0; i < n; ++i) {
    const float r = rp[i], g = gp[i], b = bp[i];
    const float gb_max = g > b ? g : b, gb_min = g < b ? g : b;
    const float maxc = r > gb_max ? r : gb_max, minc = r < gb_min ? r : gb_min;
    const float cr = maxc - minc;
    const bool grey_pixel = !(cr > 1e-30f);  // no hue to turn (and 1 / cr must stay finite)
    const float cr_div = grey_pixel ? 1.0f : cr;
    const float max_div = maxc > 0.0f ? maxc : 1.0f;
    const float s = cr / max_div;
    const float inv_cr = 1.0f / cr_div;
    const float rc = (maxc - r) * inv_cr, gc = (maxc - g) * inv_cr, bc = (maxc - b) * inv_cr;
    const float is_r = maxc == r ? 1.0f : 0.0f;
    const float is_g = maxc == g ? 1.0f - is_r : 0.0f;
    const float is_b = (1.0f - is_r) - is_g;
    const float h6 = (is_r * (bc - gc) + is_g * ((2.0f + rc) - bc)) + is_b * ((4.0f + gc) - rc);  // [-1, 5]
    float turn = h6 / 6.0f + shift;  // (-0.67, 1.34)
    const float whole = static_cast<float>(static_cast<int>(turn));
    turn = turn - (whole - (turn < whole ? 1.0f : 0.0f));  // minus floor: [0, 1], 1 only by rounding
    const float h = turn * 6.0f;  // [0, 6]
    float out[3];
    const float offsets[3] = {5.0f, 3.0f, 1.0f};
    for (int ch = 0; ch < 3; ++ch) {
      float k = offsets[ch] + h;  // [1, 11]
      k = k - (k >= 6.0f ? 6.0f : 0.0f);
      const float rising = 4.0f - k;
      const float w0 = k < rising ? k : rising;
      const float w = w0 > 0.0f ? (w0 < 1.0f ? w0 : 1.0f) : 0.0f;
      out[ch] = clamp01(maxc * (1.0f - s * w));
    }
    rp[i] = out[0];
    gp[i] = out[1];
    bp[i] = out[2];
  }
}

// ---------------------------------------------------------------- H&E stain space

struct StainMatrices {
  double rgb_from_hed[3][3];  // rows: the H, E and DAB optical-density vectors, unit length
  double hed_from_rgb[3][3];
};

StainMatrices stain_matrices() {
  // Ruifrok & Johnston (2001), as skimage.color.rgb_from_hed.
  const double raw[3][3] = {{0.65, 0.70, 0.29}, {0.07, 0.99, 0.11}, {0.27, 0.57, 0.78}};
  StainMatrices m{};
  for (int i = 0; i < 3; ++i) {
    const double len = std::sqrt(raw[i][0] * raw[i][0] + raw[i][1] * raw[i][1] + raw[i][2] * raw[i][2]);
    for (int j = 0; j < 3; ++j) m.rgb_from_hed[i][j] = raw[i][j] / len;
  }
  const auto& a = m.rgb_from_hed;
  // Inverse by cofactors: inv[j][i] = cofactor(i, j) / det.
  const double c00 = a[1][1] * a[2][2] - a[1][2] * a[2][1];
  const double c01 = a[1][2] * a[2][0] - a[1][0] * a[2][2];
  const double c02 = a[1][0] * a[2][1] - a[1][1] * a[2][0];
  const double det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02;
  auto& inv = m.hed_from_rgb;
  inv[0][0] = c00 / det;
  inv[1][0] = c01 / det;
  inv[2][0] = c02 / det;
  inv[0][1] = (a[0][2] * a[2][1] - a[0][1] * a[2][2]) / det;
  inv[1][1] = (a[0][0] * a[2][2] - a[0][2] * a[2][0]) / det;
  inv[2][1] = (a[0][1] * a[2][0] - a[0][0] * a[2][1]) / det;
  inv[0][2] = (a[0][1] * a[1][2] - a[0][2] * a[1][1]) / det;
  inv[1][2] = (a[0][2] * a[1][0] - a[0][0] * a[1][2]) / det;
  inv[2][2] = (a[0][0] * a[1][1] - a[0][1] * a[1][0]) / det;
  return m;
}

// Stain jitter in optical-density space. The per-stain scale and shift collapse into one map of
// optical densities, od' = od A + b with A = hed_from_rgb diag(1 + alpha) rgb_from_hed and
// b = beta rgb_from_hed, so a pixel costs 3 logs, a 3x3 product and 3 exps. Densities are in bits
// here (A is unchanged by the unit; b is divided by ln 2).
void jitter_stains(Planes& p, const std::array<double, 3>& alpha, const std::array<double, 3>& beta) {  // (3,H,W)
  const StainMatrices m = stain_matrices();
  float a[3][3], b[3];
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 3; ++i) {
      double sum = 0.0;
      for (int k = 0; k < 3; ++k) sum += m.hed_from_rgb[i][k] * (1.0 + alpha[k]) * m.rgb_from_hed[k][j];
      a[i][j] = static_cast<float>(sum);
    }
    b[j] = static_cast<float>((beta[0] * m.rgb_from_hed[0][j] + beta[1] * m.rgb_from_hed[1][j] +
                               beta[2] * m.rgb_from_hed[2][j]) / kLn2);
  }
  const std::size_t n = p.plane_size();
  float *rp = p.plane(0), *gp = p.plane(1), *bp = p.plane(2);
  for (std::size_t i = 0; i < n; ++i) {
    const float o0 = density_bits(rp[i]), o1 = density_bits(gp[i]), o2 = density_bits(bp[i]);
    const float x0 = exp2_domain(-(((o0 * a[0][0] + o1 * a[1][0]) + o2 * a[2][0]) + b[0]));
    const float x1 = exp2_domain(-(((o0 * a[0][1] + o1 * a[1][1]) + o2 * a[2][1]) + b[1]));
    const float x2 = exp2_domain(-(((o0 * a[0][2] + o1 * a[1][2]) + o2 * a[2][2]) + b[2]));
    rp[i] = clamp01(exp2_float(x0));
    gp[i] = clamp01(exp2_float(x1));
    bp[i] = clamp01(exp2_float(x2));
  }
}

// ---------------------------------------------------------------- blur

// out[i] = sum over k of taps[k] * rows[k][i], added in ascending k starting from 0 (the bits of the
// plain loop in preprocess's blur); four taps per sweep so `out` is loaded and stored less often.
void accumulate_taps(float* out, const float* const* rows, const std::vector<float>& taps, std::size_t n) {
  std::fill(out, out + n, 0.0f);
  const int count = static_cast<int>(taps.size());
  int k = 0;
  for (; k + 4 <= count; k += 4) {
    const float t0 = taps[k], t1 = taps[k + 1], t2 = taps[k + 2], t3 = taps[k + 3];
    const float *r0 = rows[k], *r1 = rows[k + 1], *r2 = rows[k + 2], *r3 = rows[k + 3];
    for (std::size_t i = 0; i < n; ++i) {
      float v = out[i];
      v = v + t0 * r0[i];
      v = v + t1 * r1[i];
      v = v + t2 * r2[i];
      v = v + t3 * r3[i];
      out[i] = v;
    }
  }
  for (; k < count; ++k) {
    const float t = taps[k];
    const float* r = rows[k];
    for (std::size_t i = 0; i < n; ++i) out[i] = out[i] + t * r[i];
  }
}

// Separable Gaussian with reflect-101 borders and preprocess's gaussian_kernel taps, plane by plane.
void gaussian_blur(Planes& p, double sigma) {  // (C,H,W)
  const int W = p.width, H = p.height;
  const int kernel = 2 * static_cast<int>(std::ceil(3.0 * sigma)) + 1;
  const std::vector<float> taps = gaussian_kernel(kernel, sigma);
  const int r = kernel / 2;
  std::vector<const float*> rows(kernel);
  std::vector<float> padded(static_cast<std::size_t>(W + 2 * r));
  std::vector<int> source_x(W + 2 * r);
  for (int x = -r; x < W + r; ++x) source_x[x + r] = reflect101(x, W);
  std::vector<float> tmp(p.plane_size());
  for (int c = 0; c < p.channels; ++c) {
    float* plane = p.plane(c);
    // Horizontal: tap k of a padded row is that row shifted by k pixels.
    for (int y = 0; y < H; ++y) {
      const float* row = plane + static_cast<std::size_t>(y) * W;
      for (int x = 0; x < W + 2 * r; ++x) padded[x] = row[source_x[x]];
      for (int k = 0; k < kernel; ++k) rows[k] = padded.data() + k;
      accumulate_taps(tmp.data() + static_cast<std::size_t>(y) * W, rows.data(), taps, W);
    }
    // Vertical: tap k of output row y is row reflect101(y + k - r).
    for (int y = 0; y < H; ++y) {
      for (int k = 0; k < kernel; ++k) rows[k] = tmp.data() + static_cast<std::size_t>(reflect101(y + k - r, H)) * W;
      accumulate_taps(plane + static_cast<std::size_t>(y) * W, rows.data(), taps, W);
    }
  }
}

// ---------------------------------------------------------------- apply

double finite_or(double v, double fallback) { return std::isfinite(v) ? v : fallback; }

// Parameters brought into the ranges validate() allows, so apply() with hand-made params cannot overflow
// an index or divide by zero.
AugmentParams sanitised(AugmentParams p) {
  p.rot90 = ((p.rot90 % 4) + 4) % 4;
  p.angle_deg = finite_or(p.angle_deg, 0.0);
  p.scale = std::clamp(finite_or(p.scale, 1.0), 0.1, 10.0);
  p.shift_x = std::clamp(finite_or(p.shift_x, 0.0), -1.0, 1.0);
  p.shift_y = std::clamp(finite_or(p.shift_y, 0.0), -1.0, 1.0);
  p.shear_deg = std::clamp(finite_or(p.shear_deg, 0.0), -45.0, 45.0);
  for (int k = 0; k < 3; ++k) {
    p.hed_alpha[k] = std::clamp(finite_or(p.hed_alpha[k], 0.0), -1.0, 1.0);
    p.hed_beta[k] = std::clamp(finite_or(p.hed_beta[k], 0.0), -1.0, 1.0);
  }
  p.brightness = std::clamp(finite_or(p.brightness, 1.0), 0.0, 11.0);
  p.contrast = std::clamp(finite_or(p.contrast, 1.0), 0.0, 11.0);
  p.saturation = std::clamp(finite_or(p.saturation, 1.0), 0.0, 11.0);
  p.hue = std::clamp(finite_or(p.hue, 0.0), -0.5, 0.5);
  p.blur_sigma = std::clamp(finite_or(p.blur_sigma, 0.0), 0.0, 10.0);
  p.erase_area = std::clamp(finite_or(p.erase_area, 0.0), 0.0, 1.0);
  p.erase_aspect = std::clamp(finite_or(p.erase_aspect, 1.0), 1e-3, 1e3);
  p.erase_x = std::clamp(finite_or(p.erase_x, 0.0), 0.0, 1.0);
  p.erase_y = std::clamp(finite_or(p.erase_y, 0.0), 0.0, 1.0);
  for (float& f : p.erase_fill) f = clamp01(f);
  return p;
}

bool canvas_ok(const Canvas& c) {
  return (c.channels == 1 || c.channels == 3) && c.width >= 1 && c.height >= 1 &&
         c.data.size() == static_cast<std::size_t>(c.width) * c.height * c.channels;
}

// Everything but erasing, on sanitised params: one resampling pass, colour, blur, clamp.
void transform(Canvas& canvas, const AugmentParams& p) {
  const int W = canvas.width, H = canvas.height, C = canvas.channels;
  const bool rgb = C == 3;
  const int quarter_turns = W == H ? p.rot90 : 0;
  const bool hed = p.hed && rgb;
  const bool saturation = p.saturation != 1.0 && rgb;
  const bool hue = p.hue != 0.0 && rgb;
  const bool permute = p.hflip || p.vflip || quarter_turns != 0;
  if (!(permute || p.warp || hed || p.brightness != 1.0 || p.contrast != 1.0 || saturation || hue ||
        p.blur_sigma > 0.0)) {
    for (float& v : canvas.data) v = clamp01(v);
    return;
  }

  Planes planes;
  planes.width = W;
  planes.height = H;
  planes.channels = C;
  planes.data.resize(canvas.data.size());
  const PixelMap map = flips_and_turns(W, H, p.hflip, p.vflip, quarter_turns);
  SourceMap warp{};
  if (p.warp) warp = source_map(W, H, map, p);
  if (rgb) resample<3>(canvas, map, p.warp ? &warp : nullptr, planes);
  else resample<1>(canvas, map, p.warp ? &warp : nullptr, planes);

  if (hed) jitter_stains(planes, p.hed_alpha, p.hed_beta);
  for (int step : p.color_order) {
    switch (step) {
      case 0: if (p.brightness != 1.0) adjust_brightness(planes, static_cast<float>(p.brightness)); break;
      case 1: if (p.contrast != 1.0) adjust_contrast(planes, static_cast<float>(p.contrast)); break;
      case 2: if (saturation) adjust_saturation(planes, static_cast<float>(p.saturation)); break;
      case 3: if (hue) adjust_hue(planes, static_cast<float>(p.hue)); break;
      default: break;
    }
  }
  if (p.blur_sigma > 0.0) gaussian_blur(planes, p.blur_sigma);
  interleave_clamped(planes, canvas);
}

// Random erasing, last: the box is written over the finished (H,W,C) canvas, so nothing blurs or warps its edges.
void erase(Canvas& canvas, const AugmentParams& p) {
  const EraseBox box = erase_box(p, canvas.width, canvas.height);
  const int C = canvas.channels;
  for (int y = box.y0; y < box.y0 + box.height; ++y) {
    float* row = canvas.data.data() + (static_cast<std::size_t>(y) * canvas.width + box.x0) * C;
    for (int x = 0; x < box.width; ++x)
      for (int c = 0; c < C; ++c) row[static_cast<std::size_t>(x) * C + c] = p.erase_fill[c];
  }
}

// apply() for a canvas that passed canvas_ok(); may throw std::bad_alloc, nothing else.
void apply_checked(Canvas& canvas, const AugmentParams& raw) {
  const AugmentParams p = sanitised(raw);
  transform(canvas, p);
  if (p.erase) erase(canvas, p);
}

}  // namespace

// ---------------------------------------------------------------- public

Result<bool> validate(const AugmentSpec& spec) {
  for (const Field& f : kFields) {
    const Transform& t = spec.*(f.member);
    if (!probability_ok(t.p))
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("augment: probability of ") + f.name + " is " + number(t.p) + ", outside [0, 1]");
    if (f.has_strength && t.p > 0.0 && !strength_ok(f, t.strength))
      return make_error(ErrorCode::kInvalidArgument, std::string("augment: ") + f.name + " strength " +
                                                         number(t.strength) + " is outside " + range_text(f));
  }
  return true;
}

Result<AugmentSpec> parse_augment(const std::string& text) {
  if (trim(text).empty())
    return make_error(ErrorCode::kInvalidArgument, "empty augmentation list (use \"none\" for no augmentation)");
  AugmentSpec spec;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    const auto fail = [&](const std::string& why) {
      return make_error(ErrorCode::kInvalidArgument, "augmentation \"" + item + "\": " + why);
    };
    if (item.empty())
      return make_error(ErrorCode::kInvalidArgument, "empty item in augmentation list \"" + text + "\"");

    std::string name = item, value, probability;
    bool has_value = false, has_probability = false;
    if (const std::size_t at = name.find('@'); at != std::string::npos) {
      probability = trim(name.substr(at + 1));
      name = name.substr(0, at);
      has_probability = true;
    }
    if (const std::size_t eq = name.find('='); eq != std::string::npos) {
      value = trim(name.substr(eq + 1));
      name = name.substr(0, eq);
      has_value = true;
    }
    name = trim(name);

    if (name == "none" || name == "cells" || name == "histology") {
      if (has_value || has_probability) return fail("a preset takes no value or probability");
      if (name == "none") spec = AugmentSpec{};
      else if (name == "cells") apply_preset_cells(spec);
      else apply_preset_histology(spec);
      continue;
    }
    const Field* field = find_field(name);
    if (field == nullptr)
      return make_error(ErrorCode::kInvalidArgument,
                        "unknown augmentation \"" + name + "\" (expected one of: " + known_names() + ")");
    Transform t{kDefaultProbability, field->default_strength};
    if (has_value) {
      if (!field->has_strength)
        return fail(name + " takes no value (set its probability with " + name + "@p)");
      if (!parse_number(value, &t.strength)) return fail("\"" + value + "\" is not a number");
      if (!strength_ok(*field, t.strength)) return fail(name + " must be in " + range_text(*field));
    }
    if (has_probability) {
      if (!parse_number(probability, &t.p)) return fail("\"" + probability + "\" is not a number");
      if (!probability_ok(t.p)) return fail("the probability must be in [0, 1]");
    }
    spec.*(field->member) = t;
  }
  return spec;
}

std::string describe(const AugmentSpec& spec) {
  std::string out;
  for (const Field& f : kFields) {
    const Transform& t = spec.*(f.member);
    if (!(t.p > 0.0)) continue;
    if (!out.empty()) out += ',';
    out += f.name;
    if (f.has_strength) out += "=" + number(t.strength);
    if (t.p != kDefaultProbability) out += "@" + number(t.p);
  }
  return out.empty() ? "none" : out;
}

AugmentParams draw(const AugmentSpec& spec, std::uint64_t seed) {
  AugmentParams out;
  if (!validate(spec)) return out;
  Rng rng(seed);
  // One statement per draw: the order of draws is the contract, and C++ leaves the order of
  // evaluation inside an expression open.
  const auto gate = [&rng](const Transform& t) { return rng.uniform() < t.p; };
  const auto symmetric = [&rng](double s) { return rng.uniform(-s, s); };
  const auto factor = [&rng](double s) { return rng.uniform(std::max(0.0, 1.0 - s), 1.0 + s); };

  out.hflip = gate(spec.hflip);
  out.vflip = gate(spec.vflip);
  const bool rot90_on = gate(spec.rot90);
  const int quarter_turns = 1 + std::min(2, static_cast<int>(rng.uniform() * 3.0));
  out.rot90 = rot90_on ? quarter_turns : 0;

  const bool rotate_on = gate(spec.rotate);
  const double angle = symmetric(spec.rotate.strength);
  const bool zoom_on = gate(spec.zoom);
  const double scale = 1.0 + symmetric(spec.zoom.strength);
  const bool shift_on = gate(spec.shift);
  const double shift_x = symmetric(spec.shift.strength);
  const double shift_y = symmetric(spec.shift.strength);
  const bool shear_on = gate(spec.shear);
  const double shear = symmetric(spec.shear.strength);
  out.warp = rotate_on || zoom_on || shift_on || shear_on;
  if (rotate_on) out.angle_deg = angle;
  if (zoom_on) out.scale = scale;
  if (shift_on) {
    out.shift_x = shift_x;
    out.shift_y = shift_y;
  }
  if (shear_on) out.shear_deg = shear;

  out.hed = gate(spec.hed);
  std::array<double, 3> alpha{}, beta{};
  for (double& a : alpha) a = symmetric(spec.hed.strength);
  for (double& b : beta) b = symmetric(spec.hed.strength);
  if (out.hed) {
    out.hed_alpha = alpha;
    out.hed_beta = beta;
  }

  const bool brightness_on = gate(spec.brightness);
  const double brightness = factor(spec.brightness.strength);
  const bool contrast_on = gate(spec.contrast);
  const double contrast = factor(spec.contrast.strength);
  const bool saturation_on = gate(spec.saturation);
  const double saturation = factor(spec.saturation.strength);
  const bool hue_on = gate(spec.hue);
  const double hue = symmetric(spec.hue.strength);
  if (brightness_on) out.brightness = brightness;
  if (contrast_on) out.contrast = contrast;
  if (saturation_on) out.saturation = saturation;
  if (hue_on) out.hue = hue;
  for (int i = 3; i > 0; --i) {  // Fisher–Yates, as torchvision's randperm(4) for ColorJitter
    const int j = std::min(i, static_cast<int>(rng.uniform() * (i + 1)));
    std::swap(out.color_order[i], out.color_order[j]);
  }

  const bool blur_on = gate(spec.blur);
  const double sigma = rng.uniform(0.1, std::max(0.1, spec.blur.strength));
  if (blur_on) out.blur_sigma = sigma;

  const bool erase_on = gate(spec.erase);
  const double area = rng.uniform(0.02, std::max(0.02, spec.erase.strength));
  const double elongation = rng.uniform(1.0, 3.0);
  const bool tall = rng.uniform() < 0.5;
  const double erase_x = rng.uniform();
  const double erase_y = rng.uniform();
  std::array<float, 3> fill{};
  for (float& f : fill) f = static_cast<float>(rng.uniform());
  if (erase_on) {
    out.erase = true;
    out.erase_area = area;
    out.erase_aspect = tall ? elongation : 1.0 / elongation;
    out.erase_x = erase_x;
    out.erase_y = erase_y;
    out.erase_fill = fill;
  }
  return out;
}

EraseBox erase_box(const AugmentParams& raw, int width, int height) {
  EraseBox box;
  if (!raw.erase || width < 1 || height < 1) return box;
  const AugmentParams p = sanitised(raw);
  const double h = std::min(1.0, std::sqrt(p.erase_area * p.erase_aspect));
  const double w = std::min(1.0, std::sqrt(p.erase_area / p.erase_aspect));
  box.height = std::clamp(floor_int(h * height), 1, height);
  box.width = std::clamp(floor_int(w * width), 1, width);
  // erase_x < 1 picks one of the (width - box.width + 1) positions; x = 1 (hand-made params) the last.
  box.x0 = std::min(width - box.width, floor_int(p.erase_x * (width - box.width + 1)));
  box.y0 = std::min(height - box.height, floor_int(p.erase_y * (height - box.height + 1)));
  return box;
}

void apply(Canvas& canvas, const AugmentParams& raw) {
  if (!canvas_ok(canvas)) return;
  try {
    apply_checked(canvas, raw);
  } catch (const std::bad_alloc&) {
    // Every buffer is allocated before the canvas is written: it is left as it was.
  }
}
void apply(Canvas& canvas, const AugmentSpec& spec, std::uint64_t seed) { apply(canvas, draw(spec, seed)); }

std::array<double, 3> rgb_to_hed(const std::array<float, 3>& rgb) {
  const StainMatrices m = stain_matrices();
  double od[3];
  for (int j = 0; j < 3; ++j) od[j] = static_cast<double>(density_bits(rgb[j])) * kLn2;
  std::array<double, 3> hed{};
  for (int i = 0; i < 3; ++i)
    hed[i] = od[0] * m.hed_from_rgb[0][i] + od[1] * m.hed_from_rgb[1][i] + od[2] * m.hed_from_rgb[2][i];
  return hed;
}

std::array<float, 3> hed_to_rgb(const std::array<double, 3>& hed) {
  const StainMatrices m = stain_matrices();
  std::array<float, 3> rgb{};
  for (int j = 0; j < 3; ++j) {
    const double od = hed[0] * m.rgb_from_hed[0][j] + hed[1] * m.rgb_from_hed[1][j] + hed[2] * m.rgb_from_hed[2][j];
    rgb[j] = clamp01(exp2_float(exp2_domain(static_cast<float>(-od / kLn2))));
  }
  return rgb;
}

}  // namespace cellcam::augment
