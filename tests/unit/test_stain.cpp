// test_stain.cpp — Reinhard (lαβ) and Macenko (optical density) stain normalisation (stain.h) and their
// spec blocks: conversions round-trip, a synthetic H&E image gives back the stains it was made of, the
// output statistics equal the targets, degenerate canvases are left alone, bad specs are refused.
// Runs natively and under node (wasm); tests/node/parity.test.mjs checks the two agree to the bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "cellcam/preprocess.h"
#include "cellcam/spec.h"
#include "cellcam/stain.h"

namespace cellcam {
namespace {

// A tiny LCG (std::uniform_real_distribution differs between libstdc++ and libc++).
struct Lcg {
  std::uint32_t state;
  double next() {  // [0, 1)
    state = state * 1664525u + 1013904223u;
    return (state >> 8) / 16777216.0;
  }
};

Canvas blank(int w, int h) {
  Canvas c;
  c.width = w;
  c.height = h;
  c.channels = 3;
  c.data.assign(static_cast<std::size_t>(w) * h * 3, 0.0f);
  return c;
}

float max_abs_diff(const Canvas& a, const Canvas& b) {
  float m = 0.0f;
  for (std::size_t i = 0; i < a.data.size(); ++i) m = std::fmax(m, std::fabs(a.data[i] - b.data[i]));
  return m;
}

// A pink-purple "tissue" patch: every pixel a random blend of two colours, with the given cast.
Canvas tissue(std::uint32_t seed, double r_cast, double g_cast, double b_cast) {
  Canvas c = blank(32, 32);
  Lcg rng{seed};
  for (std::size_t p = 0; p < c.data.size() / 3; ++p) {
    const double t = rng.next(), shade = 0.85 + 0.15 * rng.next();
    const double rgb[3] = {(0.55 + 0.35 * t) * shade * r_cast, (0.30 + 0.45 * t) * shade * g_cast,
                           (0.60 + 0.25 * t) * shade * b_cast};
    for (int k = 0; k < 3; ++k) c.data[3 * p + k] = static_cast<float>(rgb[k]);
  }
  return c;
}

// ---- Macenko's synthetic slide: OD = cH * H + cE * E with known unit stain vectors.
const double kH[3] = {0.5626, 0.7201, 0.4062};  // the stain matrix most implementations use as reference
const double kE[3] = {0.2159, 0.8012, 0.5581};

void unit(const double in[3], double out[3]) {
  const double n = std::sqrt(in[0] * in[0] + in[1] * in[1] + in[2] * in[2]);
  for (int c = 0; c < 3; ++c) out[c] = in[c] / n;
}

// A third of the pixels pure haematoxylin, a third pure eosin, a third mixed; a white border.
Canvas he_slide(const double h_in[3], const double e_in[3], double h_scale, double e_scale, std::uint32_t seed = 7) {
  double h[3], e[3];
  unit(h_in, h);
  unit(e_in, e);
  Canvas c = blank(48, 48);
  Lcg rng{seed};
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x) {
      float* px = &c.data[(static_cast<std::size_t>(y) * 48 + x) * 3];
      if (y < 4) {  // background: white, outside the tissue (OD 0)
        px[0] = px[1] = px[2] = 1.0f;
        continue;
      }
      const int kind = (y * 48 + x) % 3;
      const double ch = kind == 1 ? 0.0 : (0.3 + 1.5 * rng.next()) * h_scale;
      const double ce = kind == 0 ? 0.0 : (0.8 + 0.8 * rng.next()) * e_scale;
      for (int k = 0; k < 3; ++k)
        px[k] = static_cast<float>((256.0 * std::exp(-(ch * h[k] + ce * e[k])) - 1.0) / 255.0);
    }
  return c;
}

double cosine(const double a[3], const double b[3]) {
  double ua[3], ub[3];
  unit(a, ua);
  unit(b, ub);
  return ua[0] * ub[0] + ua[1] * ub[1] + ua[2] * ub[2];
}

StainSpec macenko_spec(const double h[3], const double e[3], double max_h, double max_e) {
  StainSpec s;
  s.enabled = true;
  s.method = StainMethod::kMacenko;
  s.target_stains = {float(h[0]), float(h[1]), float(h[2]), float(e[0]), float(e[1]), float(e[2])};
  s.target_max_conc = {float(max_h), float(max_e)};
  return s;
}

StainSpec reinhard_spec(const LabStats& target) {
  StainSpec s;
  s.enabled = true;
  s.method = StainMethod::kReinhard;
  s.target_mean.assign(target.mean, target.mean + 3);
  s.target_std.assign(target.std, target.std + 3);
  return s;
}

std::string parse_error(const std::string& json) {
  Result<PreprocessSpec> r = parse_preprocess_spec(json);
  return r.ok() ? "(accepted)" : r.error().message;
}

// ---------------------------------------------------------------- elementary functions
TEST(PortableLog, AgreesWithLibmToTwoUlp) {
  for (double x : {1e-300, 1e-10, 1.0 / 256.0, 0.15, 0.5, 0.7071067811865476, 0.99999, 1.0, 1.00001, 1.5, 2.0, 255.0, 1e10, 1e300}) {
    const double want = std::log(x), got = portable_log(x);
    EXPECT_LE(std::fabs(got - want), 2.0 * std::fabs(std::nextafter(want, 0.0) - want) + 1e-300) << x;
  }
  EXPECT_EQ(portable_log(1.0), 0.0);
  EXPECT_EQ(portable_log(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(portable_log(-1.0)));
}

TEST(PortableLog, OpticalDensityOfWhiteIsZeroAndBlackIsFinite) {
  EXPECT_EQ(optical_density(1.0f), 0.0);
  EXPECT_NEAR(optical_density(0.0f), std::log(256.0), 1e-15);
  EXPECT_GT(optical_density(0.5f), optical_density(0.6f));
}

// ---------------------------------------------------------------- Reinhard
TEST(Reinhard, LalphabetaRoundTrips) {
  Lcg rng{1};
  for (int i = 0; i < 1000; ++i) {
    const double rgb[3] = {0.02 + 0.98 * rng.next(), 0.02 + 0.98 * rng.next(), 0.02 + 0.98 * rng.next()};
    double lab[3], back[3];
    rgb_to_lalphabeta(rgb, lab);
    lalphabeta_to_rgb(lab, back);
    for (int c = 0; c < 3; ++c) ASSERT_NEAR(back[c], rgb[c], 1e-12) << i << " " << c;
  }
  // Gray has (nearly) no colour: alpha and beta are small next to a saturated colour's.
  double gray[3], red[3];
  const double g[3] = {0.5, 0.5, 0.5}, r[3] = {0.9, 0.1, 0.1};
  rgb_to_lalphabeta(g, gray);
  rgb_to_lalphabeta(r, red);
  EXPECT_LT(std::fabs(gray[1]) + std::fabs(gray[2]), 0.1 * (std::fabs(red[1]) + std::fabs(red[2])));
}

TEST(Reinhard, OutputStatisticsEqualTheTargets) {
  Canvas source = tissue(3, 1.0, 1.0, 1.0);
  const LabStats target = reinhard_stats(tissue(4, 1.05, 0.8, 1.0), 0.1f);  // a pinker slide
  const LabStats before = reinhard_stats(source, 0.1f);
  ASSERT_EQ(before.pixels, 32u * 32u);
  EXPECT_GT(std::fabs(before.mean[2] - target.mean[2]), 0.01);  // the two really differ
  normalize_stain_reinhard(source, reinhard_spec(target));
  const LabStats after = reinhard_stats(source, 0.1f);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(after.mean[c], target.mean[c], 1e-5) << c;
    EXPECT_NEAR(after.std[c], target.std[c], 1e-5) << c;
  }
}

TEST(Reinhard, RemovesACastAndIsIdempotent) {
  const LabStats target = reinhard_stats(tissue(5, 1.0, 1.0, 1.0), 0.1f);
  const StainSpec spec = reinhard_spec(target);
  Canvas a = tissue(6, 1.0, 1.0, 1.0), b = tissue(6, 1.1, 0.75, 0.9);  // the same patch, another stain cast
  const float before = max_abs_diff(a, b);
  normalize_stain_reinhard(a, spec);
  normalize_stain_reinhard(b, spec);
  const float after = max_abs_diff(a, b);
  std::printf("Reinhard: colour cast maxdiff %.4f before, %.4f after\n", before, after);
  EXPECT_GT(before, 0.1f);
  EXPECT_LT(after, 0.2f * before);
  Canvas again = a;
  normalize_stain_reinhard(again, spec);
  EXPECT_LT(max_abs_diff(again, a), 1e-5f);
}

TEST(Reinhard, DegenerateCanvasesAreLeftUnchanged) {
  const StainSpec spec = reinhard_spec(reinhard_stats(tissue(5, 1.0, 1.0, 1.0), 0.1f));
  Canvas flat = blank(16, 16);
  for (float& v : flat.data) v = 0.6f;
  Canvas copy = flat;
  normalize_stain_reinhard(flat, spec);
  EXPECT_EQ(flat.data, copy.data);
  Canvas few = blank(16, 16);  // 10 foreground pixels: under kMinStainPixels
  for (int p = 0; p < 10; ++p) few.data[3 * p] = 0.8f, few.data[3 * p + 1] = 0.3f * (p % 3);
  copy = few;
  normalize_stain_reinhard(few, spec);
  EXPECT_EQ(few.data, copy.data);
  Canvas gray;  // a gray source: one channel, no stain
  gray.width = gray.height = 8;
  gray.channels = 1;
  gray.data.assign(64, 0.5f);
  gray.data[3] = 0.9f;
  Canvas gray_copy = gray;
  normalize_stain_reinhard(gray, spec);
  EXPECT_EQ(gray.data, gray_copy.data);
}

TEST(Reinhard, BackgroundIsUntouchedAndNothingIsNaN) {
  Canvas c = tissue(8, 1.0, 1.0, 1.0);
  for (int x = 0; x < 32; ++x) c.data[3 * x] = c.data[3 * x + 1] = c.data[3 * x + 2] = 0.0f;  // a black pad row
  StainSpec spec = reinhard_spec(reinhard_stats(tissue(9, 1.2, 0.6, 0.9), 0.1f));
  spec.target_std = {2.0f, 2.0f, 2.0f};  // absurd spread: much is clipped
  normalize_stain_reinhard(c, spec);
  for (int x = 0; x < 32 * 3; ++x) EXPECT_EQ(c.data[x], 0.0f);
  for (float v : c.data) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
}

// ---------------------------------------------------------------- Macenko
TEST(Macenko, JacobiFindsTheEigenvectors) {
  // A = Q diag(5, 2, 0.5) Q^T for a rotation Q: the columns of Q come back (up to sign).
  const double ct = std::cos(0.3), st = std::sin(0.3), cp = std::cos(1.1), sp = std::sin(1.1);
  const double q[3][3] = {{ct, -st * cp, st * sp}, {st, ct * cp, -ct * sp}, {0, sp, cp}};
  const double lambda[3] = {5.0, 2.0, 0.5};
  double a[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) a[r][c] = q[r][0] * lambda[0] * q[c][0] + q[r][1] * lambda[1] * q[c][1] + q[r][2] * lambda[2] * q[c][2];
  const Eigen3 e = symmetric_eigen3(a);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(e.values[i], lambda[i], 1e-12);
    const double d = e.vectors[i][0] * q[0][i] + e.vectors[i][1] * q[1][i] + e.vectors[i][2] * q[2][i];
    EXPECT_NEAR(std::fabs(d), 1.0, 1e-12) << i;
  }
}

TEST(Macenko, RecoversTheStainsASlideWasMadeOf) {
  const std::optional<MacenkoStains> m = estimate_macenko(he_slide(kH, kE, 1.0, 1.0), 0.1f);
  ASSERT_TRUE(m.has_value());
  std::printf("Macenko: H %.4f %.4f %.4f, E %.4f %.4f %.4f, max conc %.3f %.3f\n", m->stains[0][0], m->stains[0][1],
              m->stains[0][2], m->stains[1][0], m->stains[1][1], m->stains[1][2], m->max_conc[0], m->max_conc[1]);
  EXPECT_GT(cosine(m->stains[0], kH), 0.999);  // H first
  EXPECT_GT(cosine(m->stains[1], kE), 0.999);
  // The 99th percentiles of the concentrations drawn: H up to 1.8, E up to 1.6.
  EXPECT_NEAR(m->max_conc[0], 1.8, 0.05);
  EXPECT_NEAR(m->max_conc[1], 1.6, 0.05);
}

TEST(Macenko, NormalisingToItsOwnStainsIsTheIdentity) {
  Canvas c = he_slide(kH, kE, 1.0, 1.0);
  const MacenkoStains m = estimate_macenko(c, 0.1f).value();
  const Canvas before = c;
  normalize_stain_macenko(c, macenko_spec(m.stains[0], m.stains[1], m.max_conc[0], m.max_conc[1]));
  EXPECT_LT(max_abs_diff(c, before), 2e-3f);
}

TEST(Macenko, TwoStainingsOfOneSlideBecomeOne) {
  // The same tissue (same seed: same concentrations) stained with bluer haematoxylin and weaker eosin.
  const double h2[3] = {0.65, 0.70, 0.29}, e2[3] = {0.25, 0.85, 0.46};
  Canvas a = he_slide(kH, kE, 1.0, 1.0), b = he_slide(h2, e2, 1.3, 0.7);
  const float before = max_abs_diff(a, b);
  const StainSpec target = macenko_spec(kH, kE, 1.8, 1.6);
  normalize_stain_macenko(a, target);
  normalize_stain_macenko(b, target);
  const float after = max_abs_diff(a, b);
  std::printf("Macenko: two stainings maxdiff %.4f before, %.4f after\n", before, after);
  EXPECT_GT(before, 0.1f);
  EXPECT_LT(after, 0.1f * before);
  const std::optional<MacenkoStains> m = estimate_macenko(b, 0.1f);
  ASSERT_TRUE(m.has_value());
  EXPECT_GT(cosine(m->stains[0], kH), 0.999);
  EXPECT_GT(cosine(m->stains[1], kE), 0.999);
}

TEST(Macenko, DegenerateCanvasesAreLeftUnchanged) {
  const StainSpec spec = macenko_spec(kH, kE, 1.8, 1.6);
  auto unchanged = [&](Canvas c, const char* what) {
    const Canvas copy = c;
    normalize_stain_macenko(c, spec);
    EXPECT_EQ(c.data, copy.data) << what;
    EXPECT_FALSE(estimate_macenko(copy, 0.1f).has_value()) << what;
  };
  Canvas white = blank(16, 16);
  for (float& v : white.data) v = 1.0f;
  unchanged(white, "white (no tissue)");
  Canvas flat = blank(16, 16);
  for (float& v : flat.data) v = 0.5f;
  unchanged(flat, "flat");
  unchanged(blank(16, 16), "black (all background)");
  Canvas one_stain = blank(16, 16);  // only haematoxylin: the ODs lie on one line
  for (std::size_t p = 0; p < 256; ++p)
    for (int k = 0; k < 3; ++k) one_stain.data[3 * p + k] = static_cast<float>(std::exp(-(0.5 + p / 256.0) * kH[k]));
  unchanged(one_stain, "one stain");
}

TEST(Macenko, BackgroundIsUntouchedAndNothingIsNaN) {
  Canvas c = he_slide(kH, kE, 1.0, 1.0);
  for (int x = 0; x < 48 * 3; ++x) c.data[x] = 0.0f;  // the white rows become a black letterbox
  normalize_stain_macenko(c, macenko_spec(kE, kH, 40.0, 0.01));  // absurd targets: much is clipped
  for (int x = 0; x < 48 * 3; ++x) EXPECT_EQ(c.data[x], 0.0f);
  for (float v : c.data) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
}

// ---------------------------------------------------------------- through the spec and preprocess()
TEST(StainSpec, MethodsParseAndRoundTrip) {
  const std::string rgb = R"({"stain": {"target_mean": [0.7, 0.5, 0.6], "target_std": 0.1}})";
  const std::string canonical_rgb = preprocess_spec_to_json(parse_preprocess_spec(rgb).value());
  EXPECT_EQ(canonical_rgb.find("method"), std::string::npos) << "an rgb spec is written as before the key existed";
  EXPECT_EQ(parse_preprocess_spec(R"({"stain": {"method": "rgb"}})").value().stain.method, StainMethod::kRgb);

  Result<PreprocessSpec> r = parse_preprocess_spec(
      R"({"stain": {"method": "reinhard", "target_mean": [-0.3, 0.02, 0.01], "target_std": [0.1, 0.02, 0.01]}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().stain.method, StainMethod::kReinhard);
  EXPECT_FLOAT_EQ(r.value().stain.target_mean[0], -0.3f);
  Result<PreprocessSpec> m = parse_preprocess_spec(
      R"({"stain": {"method": "macenko", "target_stains": [[0.56, 0.72, 0.41], [0.22, 0.80, 0.56]],
                    "target_max_conc": [1.97, 1.03], "foreground_above": 0.05}})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m.value().stain.target_stains.size(), 6u);
  EXPECT_FLOAT_EQ(m.value().stain.target_stains[3], 0.22f);
  EXPECT_FLOAT_EQ(m.value().stain.target_max_conc[1], 1.03f);
  EXPECT_FLOAT_EQ(m.value().stain.foreground_above, 0.05f);
  for (const PreprocessSpec& s : {r.value(), m.value()}) {
    Result<PreprocessSpec> back = parse_preprocess_spec(preprocess_spec_to_json(s));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(preprocess_spec_to_json(back.value()), preprocess_spec_to_json(s));
    EXPECT_EQ(back.value().stain.method, s.stain.method);
  }
}

TEST(StainSpec, ClearMessagesForMistakes) {
  EXPECT_EQ(parse_error(R"({"stain": {"method": "vahadane"}})"),
            "preprocess spec: 'method' is \"vahadane\", expected one of rgb, reinhard, macenko");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "reinhard"}})"),
            "preprocess spec: method 'reinhard' needs 'stain.target_mean' and 'stain.target_std' (lαβ, 3 values each)");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "reinhard", "target_mean": 0.1, "target_std": 0.1}})"),
            "preprocess spec: method 'reinhard': 'stain.target_mean' and 'stain.target_std' need 3 values (l, alpha, beta)");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "reinhard", "target_mean": [0, 0, 0], "target_std": [0.1, 0, 0.1]}})"),
            "preprocess spec: method 'reinhard': 'stain.target_mean' values must lie in [-10, 10] and 'stain.target_std' in (0, 10]");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, 1, 1], [1, 1, 1]]}})"),
            "preprocess spec: method 'macenko' needs 'stain.target_stains' (2x3) and 'stain.target_max_conc' (2 values)");
  const std::string shape = "preprocess spec: method 'macenko': 'stain.target_stains' must be [[r, g, b], [r, g, b]] (H, then E): "
                            "finite, non-negative, each with a positive value";
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, 1, 1]], "target_max_conc": [1, 1]}})"), shape);
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, 1], [1, 1, 1]], "target_max_conc": [1, 1]}})"), shape);
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, -1, 1], [1, 1, 1]], "target_max_conc": [1, 1]}})"), shape);
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[0, 0, 0], [1, 1, 1]], "target_max_conc": [1, 1]}})"), shape);
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, "x", 1], [1, 1, 1]], "target_max_conc": [1, 1]}})"), shape);
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, 1, 1], [1, 0, 1]], "target_max_conc": [1, 0]}})"),
            "preprocess spec: method 'macenko': 'stain.target_max_conc' must be 2 values in (0, 100] (H, then E)");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_stains": [[1, 1, 1], [1, 0, 1]], "target_max_conc": [1, 1, 1]}})"),
            "preprocess spec: method 'macenko': 'stain.target_max_conc' must be 2 values in (0, 100] (H, then E)");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "target_mean": [0.5, 0.5, 0.5]}})"),
            "preprocess spec: 'stain.target_mean' does not apply to method 'macenko'");
  EXPECT_EQ(parse_error(R"({"stain": {"target_stains": [[1, 1, 1], [1, 0, 1]]}})"),
            "preprocess spec: 'stain.target_stains' does not apply to method 'rgb'");
  EXPECT_EQ(parse_error(R"({"stain": {"method": "macenko", "beta": 0.15}})"), "preprocess spec: unknown key 'stain.beta'");
}

TEST(StainSpec, PreprocessDispatchesOnTheMethod) {
  // The same canvas through canvas_to_tensor: rgb, reinhard and macenko each change it, differently.
  PreprocessSpec plain;
  plain.width = plain.height = 48;
  const Canvas slide = he_slide(kH, kE, 1.3, 0.7);
  const Tensor base = canvas_to_tensor(slide, plain).take();
  PreprocessSpec rgb = plain, reinhard = plain, macenko = plain;
  rgb.stain.enabled = true;
  reinhard.stain = reinhard_spec(reinhard_stats(he_slide(kH, kE, 1.0, 1.0), 0.1f));
  macenko.stain = macenko_spec(kH, kE, 1.8, 1.6);
  std::vector<std::vector<float>> outputs;
  for (const PreprocessSpec* s : {&rgb, &reinhard, &macenko}) {
    const Tensor t = canvas_to_tensor(slide, *s).take();
    EXPECT_NE(t.data, base.data) << stain_method_name(s->stain.method);
    for (float v : t.data) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << stain_method_name(s->stain.method);
    outputs.push_back(t.data);
  }
  EXPECT_NE(outputs[0], outputs[1]);
  EXPECT_NE(outputs[1], outputs[2]);
}

}  // namespace
}  // namespace cellcam
