// test_cam.cpp — Grad-CAM drawing (cam.h) and canvas_placement (preprocess.h): placement against what
// resize_to_canvas really does, bilinear values against torch, normalisation against grad-cam/numpy,
// colour tables against matplotlib, blending and its refusals.
//
// Expected numbers were computed once with torch 1.13 / numpy 1.24 / matplotlib 3.6.3 (the snippets are
// next to each test); the tests need none of them. Runs natively and as wasm under node: the checksum
// test asserts one constant in both, which is the proof that the page and the CLI draw the same pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <tuple>

#include "cellcam/cam.h"
#include "cellcam/preprocess.h"

namespace cellcam {
namespace {

PreprocessSpec canvas_spec(int w, int h, AspectMode aspect) {
  PreprocessSpec spec;
  spec.width = w;
  spec.height = h;
  spec.aspect = aspect;
  return spec;
}

CanvasPlacement place(int src_w, int src_h, const PreprocessSpec& spec) {
  Result<CanvasPlacement> p = canvas_placement(src_w, src_h, spec);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? p.value() : CanvasPlacement{};
}

Image rgb_image(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.bits = 8;
  img.samples.assign(static_cast<std::size_t>(w) * h * 3, 0);
  return img;
}

std::vector<float> upsample(const std::vector<float>& cam, int cam_w, int cam_h, const CanvasPlacement& p, int canvas_w,
                            int canvas_h, int out_w, int out_h, std::vector<std::uint8_t>* covered = nullptr) {
  Result<std::vector<float>> r = upsample_cam(cam.data(), cam_w, cam_h, p, canvas_w, canvas_h, out_w, out_h, covered);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.take() : std::vector<float>{};
}

// ---- canvas_placement

TEST(CanvasPlacement, StretchScalesEachAxis) {
  const CanvasPlacement p = place(200, 100, canvas_spec(96, 96, AspectMode::kStretch));
  EXPECT_EQ(p.x0, 0.0f);
  EXPECT_EQ(p.y0, 0.0f);
  EXPECT_EQ(p.scale_x, 96.0f / 200.0f);
  EXPECT_EQ(p.scale_y, 96.0f / 100.0f);
  EXPECT_EQ(p.content_x, 0);
  EXPECT_EQ(p.content_width, 96);
  EXPECT_EQ(p.content_height, 96);
}

TEST(CanvasPlacement, PadLetterboxesWithRoundedSizeAndIntegerOffset) {
  PreprocessSpec spec = canvas_spec(96, 96, AspectMode::kPad);
  CanvasPlacement p = place(200, 100, spec);  // 96 x 48, 24 rows of pad above
  EXPECT_EQ(p.x0, 0.0f);
  EXPECT_EQ(p.y0, 24.0f);
  EXPECT_EQ(p.scale_x, 0.48f);
  EXPECT_EQ(p.scale_y, 0.48f);
  EXPECT_EQ(p.content_y, 24);
  EXPECT_EQ(p.content_height, 48);
  // 7x3 on 10x10: scale 10/7, height round(4.2857) = 4, offset (10-4)/2 = 3; the axes differ by rounding.
  spec = canvas_spec(10, 10, AspectMode::kPad);
  p = place(7, 3, spec);
  EXPECT_EQ(p.y0, 3.0f);
  EXPECT_EQ(p.scale_x, 10.0f / 7.0f);
  EXPECT_EQ(p.scale_y, 4.0f / 3.0f);
  EXPECT_EQ(p.content_height, 4);
  // 10x7 on 10x10: height round(7) = 7, offset (10-7)/2 = 1 (integer division, not 1.5).
  p = place(10, 7, spec);
  EXPECT_EQ(p.y0, 1.0f);
  EXPECT_EQ(p.scale_y, 1.0f);
}

TEST(CanvasPlacement, CropKeepsTheCentre) {
  // 200x100 on 96x96: scale 0.96, the middle 100 columns survive; x0 = -48.
  const CanvasPlacement p = place(200, 100, canvas_spec(96, 96, AspectMode::kCrop));
  EXPECT_EQ(p.x0, -48.0f);
  EXPECT_EQ(p.y0, 0.0f);
  EXPECT_FLOAT_EQ(p.scale_x, 0.96f);
  EXPECT_FLOAT_EQ(p.scale_y, 0.96f);
  EXPECT_FLOAT_EQ(p.x0 + 50.0f * p.scale_x, 0.0f);   // column 50's left edge: the canvas's left edge
  EXPECT_FLOAT_EQ(p.x0 + 150.0f * p.scale_x, 96.0f);  // column 150's left edge: its right edge
}

TEST(CanvasPlacement, EmptySizesAreErrors) {
  EXPECT_EQ(canvas_placement(0, 10, PreprocessSpec{}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(canvas_placement(10, 10, canvas_spec(0, 96, AspectMode::kPad)).error().code, ErrorCode::kInvalidArgument);
}

// Pad mode is visible in the canvas itself: exactly the content rectangle holds image, the rest pad_value.
class PadRegion : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

TEST_P(PadRegion, ContentRectangleIsWhereTheImageLands) {
  const auto [src_w, src_h, W, H] = GetParam();
  Image img = rgb_image(src_w, src_h);
  std::fill(img.samples.begin(), img.samples.end(), 255);
  PreprocessSpec spec = canvas_spec(W, H, AspectMode::kPad);
  const Canvas canvas = resize_to_canvas(img, spec).take();
  const CanvasPlacement p = place(src_w, src_h, spec);
  EXPECT_EQ(p.x0, static_cast<float>(p.content_x));
  EXPECT_EQ(p.y0, static_cast<float>(p.content_y));
  EXPECT_EQ(p.scale_x * src_w, static_cast<float>(p.content_width));
  EXPECT_EQ(p.scale_y * src_h, static_cast<float>(p.content_height));
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const bool inside = x >= p.content_x && x < p.content_x + p.content_width && y >= p.content_y &&
                          y < p.content_y + p.content_height;
      ASSERT_EQ(canvas.data[(static_cast<std::size_t>(y) * W + x) * 3] > 0.5f, inside) << x << "," << y;
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, PadRegion,
                         ::testing::Values(std::make_tuple(200, 100, 96, 96), std::make_tuple(100, 200, 96, 96),
                                           std::make_tuple(7, 3, 10, 10), std::make_tuple(33, 17, 64, 48),
                                           std::make_tuple(1000, 999, 96, 96), std::make_tuple(5, 50, 17, 9)));

// One bright pixel on black, through resize_to_canvas: the centre of mass of what it becomes on the canvas
// is where the placement puts the pixel's centre, up to the discretisation of the filter (a few
// hundredths of a pixel); a wrong pad offset or crop window would be off by half a pixel or more.
class BrightPixel : public ::testing::TestWithParam<std::tuple<int, int, int, int, AspectMode, int, int>> {};

TEST_P(BrightPixel, LandsWhereThePlacementSays) {
  const auto [src_w, src_h, W, H, aspect, px, py] = GetParam();
  Image img = rgb_image(src_w, src_h);
  for (int c = 0; c < 3; ++c) img.samples[(static_cast<std::size_t>(py) * src_w + px) * 3 + c] = 255;
  PreprocessSpec spec = canvas_spec(W, H, aspect);
  spec.filter = ResizeFilter::kTriangle;
  const Canvas canvas = resize_to_canvas(img, spec).take();
  double mass = 0, mx = 0, my = 0;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const double v = canvas.data[(static_cast<std::size_t>(y) * W + x) * 3];
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  ASSERT_GT(mass, 0.0);
  const CanvasPlacement p = place(src_w, src_h, spec);
  EXPECT_NEAR(mx / mass, p.x0 + (px + 0.5) * p.scale_x, 0.1);
  EXPECT_NEAR(my / mass, p.y0 + (py + 0.5) * p.scale_y, 0.1);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, BrightPixel,
    ::testing::Values(std::make_tuple(20, 10, 96, 96, AspectMode::kStretch, 7, 3),
                      std::make_tuple(20, 10, 96, 96, AspectMode::kPad, 7, 3),
                      std::make_tuple(20, 10, 96, 96, AspectMode::kCrop, 9, 4),
                      std::make_tuple(13, 31, 64, 48, AspectMode::kPad, 5, 20),
                      std::make_tuple(13, 31, 64, 48, AspectMode::kCrop, 6, 16),
                      std::make_tuple(200, 100, 96, 96, AspectMode::kPad, 120, 41),
                      std::make_tuple(200, 100, 96, 96, AspectMode::kCrop, 120, 41),
                      std::make_tuple(200, 100, 96, 96, AspectMode::kStretch, 120, 41)));

// The sharp version, for enlargements: stb's triangle filter then interpolates linearly, which reproduces
// a ramp exactly, so each canvas pixel's value names the source position it was sampled at. Mapped
// through the placement, that position must come back to the canvas pixel's centre.
class Ramp : public ::testing::TestWithParam<std::tuple<int, int, int, int, AspectMode>> {};

TEST_P(Ramp, CanvasPixelCentresMapBackExactly) {
  const auto [src_w, src_h, W, H, aspect] = GetParam();
  // 16-bit gray, two images: value 1000 * x, and 1000 * y.
  Image ramp[2];
  for (int axis = 0; axis < 2; ++axis) {
    ramp[axis].width = src_w;
    ramp[axis].height = src_h;
    ramp[axis].channels = 1;
    ramp[axis].bits = 16;
    ramp[axis].samples.resize(static_cast<std::size_t>(src_w) * src_h * 2);
    for (int y = 0; y < src_h; ++y)
      for (int x = 0; x < src_w; ++x) {
        const std::uint16_t v = static_cast<std::uint16_t>(1000 * (axis == 0 ? x : y));
        std::memcpy(&ramp[axis].samples[(static_cast<std::size_t>(y) * src_w + x) * 2], &v, 2);
      }
  }
  PreprocessSpec spec = canvas_spec(W, H, aspect);
  spec.filter = ResizeFilter::kTriangle;
  const CanvasPlacement p = place(src_w, src_h, spec);
  int checked = 0;
  for (int axis = 0; axis < 2; ++axis) {
    const Canvas canvas = resize_to_canvas(ramp[axis], spec).take();
    const int src_n = axis == 0 ? src_w : src_h;
    const double x0 = axis == 0 ? p.x0 : p.y0, scale = axis == 0 ? p.scale_x : p.scale_y;
    for (int y = p.content_y; y < p.content_y + p.content_height; ++y)
      for (int x = p.content_x; x < p.content_x + p.content_width; ++x) {
        const double s = canvas.data[static_cast<std::size_t>(y) * W + x] * 65535.0 / 1000.0;  // source pixel index
        if (s < 1.0 || s > src_n - 2.0) continue;  // clamped at the edges
        ASSERT_NEAR(x0 + (s + 0.5) * scale, (axis == 0 ? x : y) + 0.5, 1e-4)
            << "axis " << axis << " at " << x << "," << y;
        ++checked;
      }
  }
  EXPECT_GT(checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Enlargements, Ramp,
                         ::testing::Values(std::make_tuple(20, 10, 96, 96, AspectMode::kStretch),
                                           std::make_tuple(20, 10, 96, 96, AspectMode::kPad),
                                           std::make_tuple(20, 10, 96, 96, AspectMode::kCrop),
                                           std::make_tuple(13, 31, 64, 48, AspectMode::kPad),
                                           std::make_tuple(13, 31, 64, 48, AspectMode::kCrop),
                                           std::make_tuple(7, 3, 10, 10, AspectMode::kPad),
                                           std::make_tuple(30, 29, 97, 45, AspectMode::kCrop)));

// ---- normalize_cam

TEST(NormalizeCam, MatchesGradCamScaleCamImage) {
  // numpy 1.24: img = np.float32([3, -1.5, .25, 7.75, 2]); img -= img.min(); img /= 1e-7 + img.max()
  const float cam[] = {3.0f, -1.5f, 0.25f, 7.75f, 2.0f};
  const std::vector<float> m = normalize_cam(cam, 5).take();
  const std::uint32_t expected[] = {0x3ef914c2, 0x0, 0x3e41bad0, 0x3f800000, 0x3ec1bad0};
  for (int i = 0; i < 5; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &m[i], 4);
    EXPECT_EQ(bits, expected[i]) << i << ": " << m[i];
  }
  // A small range keeps its maximum just below 1: 1e-3 / (1e-3 + 1e-7), numpy's 0.999899983.
  const float small[] = {0.0f, 1e-3f};
  EXPECT_EQ(normalize_cam(small, 2).value()[1], 0.999899983f);
}

TEST(NormalizeCam, ConstantMapIsAllZero) {
  const std::vector<float> cam(12, 4.5f);
  const std::vector<float> m = normalize_cam(cam.data(), 12).take();
  for (float v : m) EXPECT_EQ(v, 0.0f);
  const float one = -3.0f;
  EXPECT_EQ(normalize_cam(&one, 1).value()[0], 0.0f);
}

TEST(NormalizeCam, NonFiniteAndEmptyAreErrors) {
  const float nan[] = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f};
  const float inf[] = {0.0f, 1.0f, -std::numeric_limits<float>::infinity()};
  const float wide[] = {-3e38f, 3e38f};  // the range overflows float
  EXPECT_EQ(normalize_cam(nan, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(normalize_cam(inf, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(normalize_cam(wide, 2).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(normalize_cam(nan, 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(normalize_cam(nullptr, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(normalize_cam(nan, 3).error().message.find("NaN"), std::string::npos);
}

// ---- scale_cam

TEST(ScaleCam, RelativeIsNormalizeCam) {
  const float cam[] = {3.0f, -1.5f, 0.25f, 7.75f, 2.0f};
  EXPECT_EQ(scale_cam(cam, 5, CamScale::kRelative, 0.3f).value(), normalize_cam(cam, 5).value());
}

TEST(ScaleCam, AbsoluteIsTheShareOfTheMaximumTimesTheProbability) {
  const float cam[] = {0.0f, 1.0f, 2.0f, 4.0f, -3.0f};
  const std::vector<float> m = scale_cam(cam, 5, CamScale::kAbsolute, 0.5f).take();
  const std::vector<float> expected = {0.0f, 0.125f, 0.25f, 0.5f, 0.0f};  // negatives are no evidence: 0
  EXPECT_EQ(m, expected);
  // A flat map stays flat at the probability; the relative scale would make it all 0 (or stretch noise).
  const std::vector<float> flat(9, 0.7f);
  const std::vector<float> flat_scaled = scale_cam(flat.data(), 9, CamScale::kAbsolute, 0.9f).take();
  for (float v : flat_scaled) EXPECT_EQ(v, 0.9f);
  // A confident "no": P = 0.02 keeps every value at or below 0.02, whatever the map's shape.
  const std::vector<float> low = scale_cam(cam, 5, CamScale::kAbsolute, 0.02f).take();
  for (float v : low) EXPECT_LE(v, 0.02f);
  // Nothing positive: no evidence anywhere.
  const float negative[] = {-1.0f, -2.0f, 0.0f};
  const std::vector<float> none = scale_cam(negative, 3, CamScale::kAbsolute, 1.0f).take();
  for (float v : none) EXPECT_EQ(v, 0.0f);
}

TEST(ScaleCam, BadProbabilityAndMapsAreErrors) {
  const float cam[] = {0.0f, 1.0f};
  const float nan[] = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(scale_cam(cam, 2, CamScale::kAbsolute, 1.5f).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(scale_cam(cam, 2, CamScale::kAbsolute, -0.1f).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(scale_cam(cam, 2, CamScale::kAbsolute, std::numeric_limits<float>::quiet_NaN()).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(scale_cam(nan, 2, CamScale::kAbsolute, 0.5f).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(scale_cam(nullptr, 2, CamScale::kAbsolute, 0.5f).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_cam_scale("absolute").value(), CamScale::kAbsolute);
  EXPECT_EQ(parse_cam_scale("relative").value(), CamScale::kRelative);
  EXPECT_EQ(parse_cam_scale("log").error().code, ErrorCode::kInvalidArgument);
  EXPECT_STREQ(cam_scale_name(CamScale::kAbsolute), "absolute");
}

TEST(ScaleCam, RenderHeatmapOfAConfidentNoStaysInTheColdEnd) {
  const std::vector<float> cam = {0.0f, 0.1f, 5.0f, 0.2f};  // one hot spot
  const PreprocessSpec spec = canvas_spec(8, 8, AspectMode::kStretch);
  const CamRendering r = render_heatmap(cam.data(), 2, 2, 8, 8, spec, Colormap::kJet, {CamScale::kAbsolute, 0.02f}).take();
  const Rgb8 cold = colormap_rgb(Colormap::kJet, 0.02f);
  for (std::size_t i = 0; i < r.cam01.size(); ++i) {
    EXPECT_LE(r.cam01[i], 0.02f);
    EXPECT_LE(r.heatmap.samples[3 * i], cold.r);  // jet's red grows with the value; at 0.02 it is still 0
  }
  const CamRendering rel = render_heatmap(cam.data(), 2, 2, 8, 8, spec, Colormap::kJet).take();
  EXPECT_GT(*std::max_element(rel.cam01.begin(), rel.cam01.end()), 0.5f);  // the relative scale paints it hot
}

// ---- upsample_cam

TEST(UpsampleCam, TwoByTwoToFourByFourAsTorch) {
  // F.interpolate(tensor([[0,1],[2,3]]), size=(4,4), mode="bilinear", align_corners=False): source
  // positions (d + 0.5)/2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel).
  const std::vector<float> cam = {0, 1, 2, 3};
  const CanvasPlacement identity = place(4, 4, canvas_spec(4, 4, AspectMode::kStretch));
  const std::vector<float> up = upsample(cam, 2, 2, identity, 4, 4, 4, 4);
  const std::vector<float> expected = {0.0f, 0.25f, 0.75f, 1.0f,  0.5f, 0.75f, 1.25f, 1.5f,
                                       1.5f, 1.75f, 2.25f, 2.5f,  2.0f, 2.25f, 2.75f, 3.0f};
  EXPECT_EQ(up, expected);
}

TEST(UpsampleCam, StretchOntoAnyImageSizeIsTorchInterpolate) {
  // Stretch composes: cam (2,3) over a 12x8 canvas, drawn on a 7x5 image, is
  // F.interpolate(tensor([[.1,.9,.3],[.5,.2,.8]]), size=(5,7), mode="bilinear", align_corners=False).
  const std::vector<float> cam = {0.1f, 0.9f, 0.3f, 0.5f, 0.2f, 0.8f};
  const CanvasPlacement p = place(7, 5, canvas_spec(12, 8, AspectMode::kStretch));
  const std::vector<float> up = upsample(cam, 3, 2, p, 12, 8, 7, 5);
  const float torch[5][7] = {
      {0.100000001f, 0.214285716f, 0.557142854f, 0.899999976f, 0.642857134f, 0.385714293f, 0.300000012f},
      {0.140000001f, 0.238571435f, 0.534285724f, 0.829999983f, 0.624285698f, 0.418571442f, 0.350000024f},
      {0.300000012f, 0.335714281f, 0.442857146f, 0.550000012f, 0.550000012f, 0.550000012f, 0.550000012f},
      {0.460000008f, 0.432857156f, 0.351428568f, 0.269999981f, 0.475714296f, 0.681428552f, 0.750000060f},
      {0.500000000f, 0.457142889f, 0.328571409f, 0.200000018f, 0.457142889f, 0.714285731f, 0.800000012f},
  };
  ASSERT_EQ(up.size(), 35u);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) EXPECT_NEAR(up[y * 7 + x], torch[y][x], 1e-6) << x << "," << y;
}

TEST(UpsampleCam, CropZeroesWhatWasCutOff) {
  // 200x100 cropped to 96x96 keeps columns 50..149; the rest lies off the canvas: 0, covered = 0.
  const PreprocessSpec spec = canvas_spec(96, 96, AspectMode::kCrop);
  const CanvasPlacement p = place(200, 100, spec);
  const std::vector<float> cam(6 * 6, 1.0f);
  std::vector<std::uint8_t> covered;
  const std::vector<float> up = upsample(cam, 6, 6, p, 96, 96, 200, 100, &covered);
  ASSERT_EQ(covered.size(), 200u * 100u);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 200; ++x) {
      const bool in = x >= 50 && x < 150;
      ASSERT_EQ(covered[y * 200 + x], in ? 1 : 0) << x << "," << y;
      ASSERT_EQ(up[y * 200 + x], in ? 1.0f : 0.0f) << x << "," << y;
    }
}

TEST(UpsampleCam, PadReadsTheMapUnderTheImage) {
  // 200x100 letterboxed on 96x96 lies in rows 24..71. A map that is 1 on the pad bands and 0 under the
  // image: row 0 of the image sits at canvas y 24 + 0.5*0.48 = 24.24, map row 23.74: 0.26 of pad row 23.
  const PreprocessSpec spec = canvas_spec(96, 96, AspectMode::kPad);
  const CanvasPlacement p = place(200, 100, spec);
  std::vector<float> cam(96 * 96, 0.0f);
  for (int y = 0; y < 96; ++y)
    if (y < 24 || y >= 72)
      for (int x = 0; x < 96; ++x) cam[y * 96 + x] = 1.0f;
  std::vector<std::uint8_t> covered;
  const std::vector<float> up = upsample(cam, 96, 96, p, 96, 96, 200, 100, &covered);
  EXPECT_NEAR(up[0], 0.26f, 1e-5);              // 0.48f is not 0.48: float placement, hence 1e-5
  EXPECT_NEAR(up[99 * 200 + 7], 0.26f, 1e-5);  // symmetric at the bottom: 71.76 -> 0.26 of row 72
  for (int y = 2; y < 98; ++y) ASSERT_EQ(up[y * 200 + 100], 0.0f) << y;
  for (std::uint8_t c : covered) ASSERT_EQ(c, 1);
}

TEST(UpsampleCam, BadArgumentsAreErrors) {
  const std::vector<float> cam(4, 0.5f);
  const CanvasPlacement p;
  EXPECT_EQ(upsample_cam(nullptr, 2, 2, p, 4, 4, 4, 4).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(upsample_cam(cam.data(), 0, 2, p, 4, 4, 4, 4).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(upsample_cam(cam.data(), 2, 2, p, 0, 4, 4, 4).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(upsample_cam(cam.data(), 2, 2, p, 4, 4, 4, -1).error().code, ErrorCode::kInvalidArgument);
  CanvasPlacement bad;
  bad.scale_x = 0.0f;
  EXPECT_EQ(upsample_cam(cam.data(), 2, 2, bad, 4, 4, 4, 4).error().code, ErrorCode::kInvalidArgument);
  bad.scale_x = 1.0f;
  bad.x0 = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(upsample_cam(cam.data(), 2, 2, bad, 4, 4, 4, 4).error().code, ErrorCode::kInvalidArgument);
}

// ---- colormaps

bool rgb_eq(Rgb8 c, int r, int g, int b) { return c.r == r && c.g == g && c.b == b; }

TEST(Colormap, EndpointsAreMatplotlibs) {
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kViridis, 0.0f), 68, 1, 84));
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kViridis, 1.0f), 253, 231, 37));
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kViridis, 0.5f), 33, 145, 140));  // index round(127.5) = 128
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kJet, 0.0f), 0, 0, 128));
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kJet, 1.0f), 128, 0, 0));
  EXPECT_TRUE(rgb_eq(colormap_rgb(Colormap::kJet, 0.5f), 125, 255, 122));
}

TEST(Colormap, IndexRoundsAndClamps) {
  const std::uint8_t* t = colormap_table(Colormap::kViridis);
  auto is_entry = [&](float v, int i) {
    return rgb_eq(colormap_rgb(Colormap::kViridis, v), t[3 * i], t[3 * i + 1], t[3 * i + 2]);
  };
  EXPECT_TRUE(is_entry(0.49f / 255.0f, 0));
  EXPECT_TRUE(is_entry(0.51f / 255.0f, 1));
  EXPECT_TRUE(is_entry(100.0f / 255.0f, 100));
  EXPECT_TRUE(is_entry(-0.5f, 0));
  EXPECT_TRUE(is_entry(7.0f, 255));
  EXPECT_TRUE(is_entry(std::numeric_limits<float>::quiet_NaN(), 0));
}

// The checked-in jet table against matplotlib's segment data (_cm.py _jet_data), rebuilt here in double:
// equal, except one level where the exact value is a .5 tie (numpy rounds those half to even, on values
// carrying floating-point noise).
TEST(Colormap, JetTableIsMatplotlibsSegmentData) {
  struct Point { double x, y; };
  const std::vector<Point> red = {{0, 0}, {0.35, 0}, {0.66, 1}, {0.89, 1}, {1, 0.5}};
  const std::vector<Point> green = {{0, 0}, {0.125, 0}, {0.375, 1}, {0.64, 1}, {0.91, 0}, {1, 0}};
  const std::vector<Point> blue = {{0, 0.5}, {0.11, 1}, {0.34, 1}, {0.65, 0}, {1, 0}};
  auto eval = [](const std::vector<Point>& seg, double x) {
    for (std::size_t k = 1; k < seg.size(); ++k)
      if (x <= seg[k].x)
        return seg[k - 1].y + (seg[k].y - seg[k - 1].y) * (x - seg[k - 1].x) / (seg[k].x - seg[k - 1].x);
    return seg.back().y;
  };
  const std::uint8_t* t = colormap_table(Colormap::kJet);
  int ties = 0;
  for (int i = 0; i < 256; ++i) {
    const std::vector<Point>* segs[3] = {&red, &green, &blue};
    for (int c = 0; c < 3; ++c) {
      const double v = eval(*segs[c], i / 255.0) * 255.0;
      const double frac = v - std::floor(v);
      const bool tie = std::fabs(frac - 0.5) < 1e-6;
      ties += tie;
      if (tie)
        EXPECT_NEAR(t[3 * i + c], v, 0.5 + 1e-6) << "entry " << i << " channel " << c;
      else
        EXPECT_EQ(t[3 * i + c], static_cast<int>(std::floor(v + 0.5))) << "entry " << i << " channel " << c;
    }
  }
  EXPECT_EQ(ties, 70);
}

TEST(Colormap, Names) {
  EXPECT_EQ(parse_colormap("viridis").value(), Colormap::kViridis);
  EXPECT_EQ(parse_colormap("jet").value(), Colormap::kJet);
  EXPECT_EQ(parse_colormap("Jet").error().code, ErrorCode::kInvalidArgument);
  EXPECT_STREQ(colormap_name(Colormap::kJet), "jet");
  EXPECT_STREQ(colormap_name(Colormap::kViridis), "viridis");
}

// ---- heatmap_image and overlay

TEST(Heatmap, IsTheTableLookedUp) {
  const Image h = heatmap_image({0.0f, 1.0f, 0.5f}, 3, 1, Colormap::kViridis).take();
  EXPECT_EQ(h.channels, 3);
  EXPECT_EQ(h.bits, 8);
  EXPECT_EQ(h.samples, (std::vector<std::uint8_t>{68, 1, 84, 253, 231, 37, 33, 145, 140}));
  EXPECT_EQ(heatmap_image({0.0f, 1.0f}, 3, 1, Colormap::kJet).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(heatmap_image({0.0f, 1.5f, 0.0f}, 3, 1, Colormap::kJet).error().code, ErrorCode::kInvalidArgument);
}

TEST(Overlay, BlendsAndRoundsHalfUp) {
  Image img = rgb_image(2, 1);
  img.samples = {10, 20, 30, 200, 100, 0};
  const std::vector<float> cam = {0.0f, 1.0f};  // viridis (68,1,84) and (253,231,37)
  Image out = overlay(img, cam, Colormap::kViridis, 0.5f).take();
  EXPECT_EQ(out.channels, 3);
  // (10+68)/2 = 39, (20+1)/2 = 10.5 -> 11, (30+84)/2 = 57; (200+253)/2 = 226.5 -> 227, 165.5 -> 166, 18.5 -> 19
  EXPECT_EQ(out.samples, (std::vector<std::uint8_t>{39, 11, 57, 227, 166, 19}));
  EXPECT_EQ(overlay(img, cam, Colormap::kViridis, 0.0f).value().samples, img.samples);
  EXPECT_EQ(overlay(img, cam, Colormap::kViridis, 1.0f).value().samples,
            (std::vector<std::uint8_t>{68, 1, 84, 253, 231, 37}));
  // 0.25: 0.75*200 + 0.25*253 = 213.25 -> 213
  EXPECT_EQ(overlay(img, cam, Colormap::kViridis, 0.25f).value().samples[3], 213);
}

TEST(Overlay, KeepsAlphaReplicatesGrayRoundsSixteenBit) {
  Image rgba;
  rgba.width = 1;
  rgba.height = 1;
  rgba.channels = 4;
  rgba.samples = {10, 20, 30, 77};
  const Image a = overlay(rgba, {0.0f}, Colormap::kViridis, 0.5f).take();
  EXPECT_EQ(a.channels, 4);
  EXPECT_EQ(a.samples, (std::vector<std::uint8_t>{39, 11, 57, 77}));

  Image gray;
  gray.width = 1;
  gray.height = 1;
  gray.channels = 1;
  gray.samples = {100};
  EXPECT_EQ(overlay(gray, {1.0f}, Colormap::kJet, 0.5f).value().samples,
            (std::vector<std::uint8_t>{114, 50, 50}));  // jet(1) = (128,0,0)

  Image g16;
  g16.width = 1;
  g16.height = 1;
  g16.channels = 2;
  g16.bits = 16;
  const std::uint16_t s[2] = {32896, 65535};  // 32896 * 255 / 65535 = 128.0, alpha 255
  g16.samples.resize(4);
  std::memcpy(g16.samples.data(), s, 4);
  const Image o16 = overlay(g16, {0.0f}, Colormap::kJet, 0.0f).take();
  EXPECT_EQ(o16.bits, 8);
  EXPECT_EQ(o16.samples, (std::vector<std::uint8_t>{128, 128, 128, 255}));
}

TEST(Overlay, RefusesWhatGradCamRefuses) {
  Image img = rgb_image(2, 2);
  const std::vector<float> ok = {0.0f, 0.25f, 0.5f, 1.0f};
  EXPECT_TRUE(overlay(img, ok, Colormap::kJet, 0.5f).ok());
  EXPECT_TRUE(overlay(img, {0.0f, -5e-7f, 0.5f, 1.0f + 5e-7f}, Colormap::kJet, 0.5f).ok());  // within 1e-6
  const std::vector<std::vector<float>> bad = {
      {0.0f, 0.25f, 0.5f},                                               // size
      {0.0f, 0.25f, 0.5f, 1.01f},                                        // > 1
      {0.0f, -0.01f, 0.5f, 1.0f},                                        // < 0
      {0.0f, std::numeric_limits<float>::quiet_NaN(), 0.5f, 1.0f},       // NaN
      {0.0f, 0.25f, std::numeric_limits<float>::infinity(), 1.0f},       // inf
  };
  for (const auto& cam : bad) {
    Result<Image> r = overlay(img, cam, Colormap::kJet, 0.5f);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(overlay(img, bad[1], Colormap::kJet, 0.5f).error().message.find("outside [0, 1]"), std::string::npos);
  for (float alpha : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()})
    EXPECT_EQ(overlay(img, ok, Colormap::kJet, alpha).error().code, ErrorCode::kInvalidArgument) << alpha;
  Image broken = img;
  broken.samples.pop_back();
  EXPECT_EQ(overlay(broken, ok, Colormap::kJet, 0.5f).error().code, ErrorCode::kInvalidArgument);
}

// ---- render_cam, and the native == wasm proof

// A fixed synthetic image and map (no libm: integer patterns only).
Image synthetic_image(int w, int h, int channels) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.samples.resize(static_cast<std::size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        img.samples[(static_cast<std::size_t>(y) * w + x) * channels + c] =
            static_cast<std::uint8_t>((x * (7 + c) + y * (13 - 2 * c) + 31 * c) % 256);
  return img;
}

std::vector<float> synthetic_cam(int w, int h) {
  std::vector<float> cam(static_cast<std::size_t>(w) * h);
  for (int i = 0; i < w * h; ++i) cam[i] = static_cast<float>((i * 37) % 11) * 0.37f - 1.1f;
  return cam;
}

TEST(RenderCam, IsTheChainOfItsParts) {
  const Image img = synthetic_image(61, 37, 3);
  const std::vector<float> cam = synthetic_cam(7, 5);
  const PreprocessSpec spec = canvas_spec(48, 40, AspectMode::kCrop);
  const CamRendering r = render_cam(img, cam.data(), 7, 5, spec, Colormap::kJet, 0.4f).take();
  const std::vector<float> norm = normalize_cam(cam.data(), 35).take();
  const std::vector<float> up = upsample(norm, 7, 5, place(61, 37, spec), 48, 40, 61, 37);
  EXPECT_EQ(r.cam01, up);
  EXPECT_EQ(r.heatmap.samples, heatmap_image(up, 61, 37, Colormap::kJet).value().samples);
  EXPECT_EQ(r.overlay.samples, overlay(img, up, Colormap::kJet, 0.4f).value().samples);
  EXPECT_EQ(r.covered.size(), 61u * 37u);
  EXPECT_EQ(render_cam(img, cam.data(), 7, 5, canvas_spec(0, 40, AspectMode::kCrop), Colormap::kJet, 0.4f).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(RenderCam, HeatmapAloneIsRenderCamWithoutTheBlend) {  // what the page's renderCam({heatmapOnly}) returns
  const Image img = synthetic_image(61, 37, 3);
  const std::vector<float> cam = synthetic_cam(7, 5);
  const PreprocessSpec spec = canvas_spec(48, 40, AspectMode::kPad);
  const CamRendering full = render_cam(img, cam.data(), 7, 5, spec, Colormap::kViridis, 0.4f).take();
  const CamRendering heat = render_heatmap(cam.data(), 7, 5, 61, 37, spec, Colormap::kViridis).take();
  EXPECT_EQ(heat.cam01, full.cam01);
  EXPECT_EQ(heat.covered, full.covered);
  EXPECT_EQ(heat.heatmap.samples, full.heatmap.samples);
  EXPECT_TRUE(heat.overlay.samples.empty());
  EXPECT_EQ(render_heatmap(cam.data(), 7, 5, 0, 37, spec, Colormap::kJet).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_heatmap(nullptr, 7, 5, 61, 37, spec, Colormap::kJet).error().code, ErrorCode::kInvalidArgument);
}

std::uint32_t fnv1a(std::uint32_t h, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

// The same constant natively and under node: the upsampled floats, the heatmap and the overlay bytes of
// fixed inputs, over the three aspect modes and both colormaps. If this fails in one build only, the two
// builds no longer draw the same pixels; if it fails in both after an intended change, update kExpected.
TEST(RenderCam, ChecksumIsTheSameInEveryBuild) {
  constexpr std::uint32_t kExpected = 0xd9f9b93du;
  const std::tuple<int, int, int, AspectMode, Colormap, float> cases[] = {
      {61, 37, 3, AspectMode::kCrop, Colormap::kJet, 0.4f},
      {61, 37, 4, AspectMode::kPad, Colormap::kViridis, 0.5f},
      {40, 90, 1, AspectMode::kStretch, Colormap::kJet, 0.65f},
      {33, 33, 3, AspectMode::kPad, Colormap::kViridis, 0.3f},
  };
  std::uint32_t h = 2166136261u;
  for (const auto& [w, hgt, channels, aspect, colormap, alpha] : cases) {
    const Image img = synthetic_image(w, hgt, channels);
    const std::vector<float> cam = synthetic_cam(7, 6);
    const CamRendering r = render_cam(img, cam.data(), 7, 6, canvas_spec(48, 40, aspect), colormap, alpha).take();
    h = fnv1a(h, r.cam01.data(), r.cam01.size() * sizeof(float));
    h = fnv1a(h, r.covered.data(), r.covered.size());
    h = fnv1a(h, r.heatmap.samples.data(), r.heatmap.samples.size());
    h = fnv1a(h, r.overlay.samples.data(), r.overlay.samples.size());
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", static_cast<unsigned>(h));
  std::printf("cam checksum (FNV-1a of maps, heatmaps, overlays): %s\n", hex);
  RecordProperty("cam_checksum", hex);
  EXPECT_EQ(h, kExpected) << "got " << hex;
}

// The absolute scale in both builds (see the test above): the same maps drawn at P = 0.83 and 0.07.
TEST(RenderCam, AbsoluteScaleChecksumIsTheSameInEveryBuild) {
  constexpr std::uint32_t kExpected = 0x8953457fu;
  std::uint32_t h = 2166136261u;
  for (const float p : {0.83f, 0.07f}) {
    const Image img = synthetic_image(61, 37, 3);
    const std::vector<float> cam = synthetic_cam(7, 6);
    const CamRendering r =
        render_cam(img, cam.data(), 7, 6, canvas_spec(48, 40, AspectMode::kPad), Colormap::kJet, 0.5f, {CamScale::kAbsolute, p}).take();
    h = fnv1a(h, r.cam01.data(), r.cam01.size() * sizeof(float));
    h = fnv1a(h, r.heatmap.samples.data(), r.heatmap.samples.size());
    h = fnv1a(h, r.overlay.samples.data(), r.overlay.samples.size());
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", static_cast<unsigned>(h));
  std::printf("absolute-scale cam checksum: %s\n", hex);
  EXPECT_EQ(h, kExpected) << "got " << hex;
}

}  // namespace
}  // namespace cellcam
