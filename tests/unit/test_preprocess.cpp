// test_preprocess.cpp — Image -> (C,H,W) tensor: shapes, values, colour modes, aspect handling, blur,
// stain normalisation.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cellcam/decode.h"
#include "cellcam/preprocess.h"
#include "fixtures.h"

namespace cellcam {
namespace {

Image solid(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img = make_image(w, h, 3, 8).take();
  for (int p = 0; p < w * h; ++p) {
    img.samples[3 * p] = r;
    img.samples[3 * p + 1] = g;
    img.samples[3 * p + 2] = b;
  }
  return img;
}

Image fixture(const std::string& path) {
  const std::vector<std::uint8_t> bytes = test::read_fixture(path);
  return decode_image(bytes.data(), bytes.size()).take();
}

Tensor run(const Image& img, const PreprocessSpec& spec) {
  Result<Tensor> t = preprocess(img, spec);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? t.take() : Tensor{};
}

float at(const Tensor& t, int c, int y, int x) { return t.data[(static_cast<std::size_t>(c) * t.height + y) * t.width + x]; }

// ---- shape contract over sizes x colour modes x aspect modes
class Shape : public ::testing::TestWithParam<std::tuple<int, int, ColorMode, AspectMode>> {};

TEST_P(Shape, TensorHasTheSpecsShape) {
  const auto [w, h, color, aspect] = GetParam();
  PreprocessSpec spec;
  spec.width = w;
  spec.height = h;
  spec.color = color;
  spec.aspect = aspect;
  spec.mean.assign(spec.channels(), 0.0f);
  spec.std.assign(spec.channels(), 1.0f);
  const Tensor t = run(fixture("malaria/parasitized_P61_cell_164.png"), spec);
  EXPECT_EQ(t.channels, color == ColorMode::kGray ? 1 : 3);
  EXPECT_EQ(t.height, h);
  EXPECT_EQ(t.width, w);
  ASSERT_EQ(t.data.size(), static_cast<std::size_t>(t.channels) * h * w);
  for (float v : t.data) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, Shape,
                         ::testing::Combine(::testing::Values(1, 32, 96, 224), ::testing::Values(17, 96),
                                            ::testing::Values(ColorMode::kRgb, ColorMode::kGray, ColorMode::kHsv),
                                            ::testing::Values(AspectMode::kStretch, AspectMode::kPad, AspectMode::kCrop)));

TEST(Preprocess, SameSizeIsTheSamplesOver255) {
  const Image img = fixture("pcam/tumour_c0318a09.jpg");  // 96x96
  PreprocessSpec spec;
  const Tensor t = run(img, spec);
  float maxdiff = 0;
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 96; ++x)
      for (int c = 0; c < 3; ++c)
        maxdiff = std::fmax(maxdiff, std::fabs(at(t, c, y, x) - img.samples[(y * 96 + x) * 3 + c] / 255.0f));
  EXPECT_LE(maxdiff, 1e-6f) << "maxdiff " << maxdiff;
}

TEST(Preprocess, MeanAndStdNormalise) {
  const Image img = fixture("malaria/uninfected_P97_cell_57.png");
  PreprocessSpec plain;
  PreprocessSpec norm;
  norm.mean = {0.485f, 0.456f, 0.406f};
  norm.std = {0.229f, 0.224f, 0.225f};
  const Tensor a = run(img, plain), b = run(img, norm);
  const std::size_t plane = static_cast<std::size_t>(a.height) * a.width;
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    const int c = static_cast<int>(i / plane);
    ASSERT_EQ(b.data[i], (a.data[i] - norm.mean[c]) / norm.std[c]);
  }
}

TEST(Preprocess, ColourModes) {
  PreprocessSpec spec;
  spec.width = spec.height = 4;
  spec.color = ColorMode::kGray;
  spec.mean = {0.0f};
  spec.std = {1.0f};
  const Tensor gray = run(solid(8, 8, 255, 0, 0), spec);
  EXPECT_NEAR(gray.data[0], 0.299f, 1e-6f);

  spec.color = ColorMode::kHsv;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  struct Case { std::uint8_t r, g, b; float h, s, v; };
  for (const Case& c : {Case{255, 0, 0, 0.0f, 1.0f, 1.0f}, Case{0, 255, 0, 1.0f / 3, 1.0f, 1.0f},
                        Case{0, 0, 255, 2.0f / 3, 1.0f, 1.0f}, Case{128, 128, 128, 0.0f, 0.0f, 128 / 255.0f},
                        Case{255, 0, 255, 5.0f / 6, 1.0f, 1.0f}}) {
    const Tensor hsv = run(solid(8, 8, c.r, c.g, c.b), spec);
    EXPECT_NEAR(at(hsv, 0, 1, 1), c.h, 1e-6f);
    EXPECT_NEAR(at(hsv, 1, 1, 1), c.s, 1e-6f);
    EXPECT_NEAR(at(hsv, 2, 1, 1), c.v, 1e-6f);
  }
}

TEST(Preprocess, GrayImagesAreReplicatedForRgbModels) {
  const Image gray = fixture("formats/cell_gray8.png");
  PreprocessSpec spec;
  const Tensor t = run(gray, spec);
  const std::size_t plane = static_cast<std::size_t>(t.height) * t.width;
  for (std::size_t p = 0; p < plane; ++p) {
    ASSERT_EQ(t.data[p], t.data[plane + p]);
    ASSERT_EQ(t.data[p], t.data[2 * plane + p]);
  }
}

TEST(Preprocess, PadLetterboxesAndKeepsTheAspect) {
  PreprocessSpec spec;
  spec.width = spec.height = 64;
  spec.aspect = AspectMode::kPad;
  spec.filter = ResizeFilter::kBox;
  spec.pad_value = 0.25f;
  const Tensor t = run(solid(100, 50, 255, 255, 255), spec);  // scaled to 64x32, centred at rows 16..47
  for (int y : {0, 15, 48, 63}) EXPECT_EQ(at(t, 0, y, 32), 0.25f) << "row " << y;
  for (int y : {16, 31, 47}) EXPECT_NEAR(at(t, 0, y, 32), 1.0f, 1e-6f) << "row " << y;
}

TEST(Preprocess, CropKeepsTheCentre) {
  Image img = solid(200, 100, 255, 0, 0);  // red sides, green centre square (x 50..149)
  for (int y = 0; y < 100; ++y)
    for (int x = 50; x < 150; ++x) {
      img.samples[(y * 200 + x) * 3] = 0;
      img.samples[(y * 200 + x) * 3 + 1] = 255;
    }
  PreprocessSpec spec;
  spec.width = spec.height = 50;
  spec.aspect = AspectMode::kCrop;
  const Tensor t = run(img, spec);
  for (int y = 0; y < 50; ++y)
    for (int x = 1; x < 49; ++x) {
      ASSERT_NEAR(at(t, 1, y, x), 1.0f, 1e-5f) << x << "," << y;
      ASSERT_NEAR(at(t, 0, y, x), 0.0f, 1e-5f) << x << "," << y;
    }
}

TEST(Preprocess, GaussianKernelsMatchOpenCV) {
  EXPECT_EQ(gaussian_kernel(5, 0), (std::vector<float>{0.0625f, 0.25f, 0.375f, 0.25f, 0.0625f}));
  EXPECT_EQ(gaussian_kernel(3, 0), (std::vector<float>{0.25f, 0.5f, 0.25f}));
  // Larger kernels: sigma = 0.3*((k-1)*0.5-1)+0.8, normalised Gaussian.
  const std::vector<float> k9 = gaussian_kernel(9, 0);
  const double sigma = 0.3 * ((9 - 1) * 0.5 - 1) + 0.8;
  double sum = 0;
  for (float v : k9) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(k9[3] / k9[4], std::exp(-1.0 / (2 * sigma * sigma)), 1e-6);
  EXPECT_EQ(k9[0], k9[8]);
}

TEST(Preprocess, PortableExpAgreesWithLibm) {
  double worst = 0;
  for (double x = -40.0; x <= 40.0; x += 0.0137) worst = std::fmax(worst, std::fabs(portable_exp(x) / std::exp(x) - 1.0));
  EXPECT_LT(worst, 1e-14);
  EXPECT_EQ(portable_exp(-1000.0), 0.0);
}

TEST(Preprocess, BlurKeepsAConstantImageConstantAndSmoothsAnEdge) {
  PreprocessSpec spec;
  spec.width = spec.height = 16;
  spec.blur.kernel = 5;
  const Tensor flat = run(solid(16, 16, 100, 100, 100), spec);
  for (float v : flat.data) ASSERT_NEAR(v, 100 / 255.0f, 1e-6f);

  Image edge = solid(16, 16, 0, 0, 0);
  for (int y = 0; y < 16; ++y)
    for (int x = 8; x < 16; ++x) edge.samples[(y * 16 + x) * 3] = 255;
  const Tensor t = run(edge, spec);
  EXPECT_NEAR(at(t, 0, 8, 7), 0.0625f + 0.25f, 1e-6f);  // two taps reach across the edge
  EXPECT_NEAR(at(t, 0, 8, 8), 1.0f - 0.0625f - 0.25f, 1e-6f);
}

// ---- stain normalisation

// A 16x16 "cell": a disc of colour (r,g,b) with a darker 3x3 "parasite" inside, on black.
Image cell(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img = solid(16, 16, 0, 0, 0);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      const int dx = x - 8, dy = y - 8;
      if (dx * dx + dy * dy > 36) continue;
      const bool parasite = x >= 6 && x < 9 && y >= 6 && y < 9;
      std::uint8_t* px = &img.samples[(y * 16 + x) * 3];
      px[0] = parasite ? r / 2 : r;
      px[1] = parasite ? g / 3 : g;
      px[2] = parasite ? b / 2 + 40 : b;
    }
  return img;
}

TEST(Stain, ForegroundStatsByHand) {
  Canvas c;
  c.width = 2;
  c.height = 2;
  c.channels = 3;
  // Two foreground pixels (0.5,0.2,0.4) and (0.7,0.4,0.4); two background pixels below 0.1.
  c.data = {0.5f, 0.2f, 0.4f, 0.7f, 0.4f, 0.4f, 0.05f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  const ForegroundStats st = foreground_stats(c, 0.1f);
  EXPECT_EQ(st.pixels, 2u);
  EXPECT_NEAR(st.mean[0], 0.6, 1e-7);
  EXPECT_NEAR(st.mean[1], 0.3, 1e-7);
  EXPECT_NEAR(st.mean[2], 0.4, 1e-7);
  EXPECT_NEAR(st.std[0], 0.1, 1e-7);
  EXPECT_NEAR(st.std[1], 0.1, 1e-7);
  EXPECT_NEAR(st.std[2], 0.0, 1e-7);
}

TEST(Stain, ForegroundMatchesTheTargetsAndTheBackgroundStaysBlack) {
  PreprocessSpec spec;
  spec.width = spec.height = 16;
  spec.stain.enabled = true;
  spec.stain.target_mean = {0.7f, 0.5f, 0.6f};
  spec.stain.target_std = {0.1f, 0.08f, 0.05f};  // small enough that nothing is clipped
  Canvas c = resize_to_canvas(cell(150, 90, 170), spec).take();
  normalize_stain(c, spec.stain);
  const ForegroundStats st = foreground_stats(c, spec.stain.foreground_above);
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(st.mean[ch], spec.stain.target_mean[ch], 1e-5) << ch;
    EXPECT_NEAR(st.std[ch], spec.stain.target_std[ch], 1e-5) << ch;
  }
  EXPECT_EQ(c.data[0], 0.0f);  // corner: background
  const Tensor t = run(cell(150, 90, 170), spec);
  EXPECT_EQ(at(t, 0, 0, 0), 0.0f);
}

TEST(Stain, RemovesAColourCastButKeepsTheParasite) {
  // The same cell stained pinker and darker on another slide: after normalisation the two tensors agree
  // closely, while without it they differ by a lot.
  PreprocessSpec spec;
  spec.width = spec.height = 16;
  const Image a = cell(200, 120, 160), b = cell(230, 90, 190);
  auto maxdiff = [](const Tensor& x, const Tensor& y) {
    float m = 0;
    for (std::size_t i = 0; i < x.data.size(); ++i) m = std::max(m, std::fabs(x.data[i] - y.data[i]));
    return m;
  };
  const float before = maxdiff(run(a, spec), run(b, spec));
  spec.stain.enabled = true;
  spec.stain.target_mean = {0.7f, 0.5f, 0.6f};
  spec.stain.target_std = {0.1f, 0.1f, 0.1f};
  const Tensor na = run(a, spec), nb = run(b, spec);
  const float after = maxdiff(na, nb);
  std::printf("colour cast: maxdiff %.4f before, %.4f after stain normalisation\n", before, after);
  EXPECT_GT(before, 0.1f);
  EXPECT_LT(after, 0.25f * before);
  // The parasite stays darker than the rest of the cell in every channel but blue (which it raises).
  EXPECT_LT(at(na, 0, 7, 7), at(na, 0, 8, 12));
  EXPECT_LT(at(na, 1, 7, 7), at(na, 1, 8, 12));
}

TEST(Stain, TooLittleForegroundIsLeftAlone) {
  PreprocessSpec spec;
  spec.width = spec.height = 16;
  spec.stain.enabled = true;
  Image img = solid(16, 16, 0, 0, 0);
  for (int p = 0; p < 10; ++p) img.samples[p * 3] = 200;  // 10 bright pixels: under the 16 needed
  const Tensor plain = run(img, PreprocessSpec{spec.width, spec.height});
  const Tensor stained = run(img, spec);
  EXPECT_EQ(plain.data, stained.data);
}

TEST(Stain, ValuesAreClippedToTheUnitRange) {
  PreprocessSpec spec;
  spec.width = spec.height = 16;
  spec.stain.enabled = true;
  spec.stain.target_mean = {0.9f, 0.9f, 0.9f};
  spec.stain.target_std = {0.5f, 0.5f, 0.5f};
  const Tensor t = run(cell(150, 90, 170), spec);
  for (float v : t.data) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
}

TEST(Preprocess, SixteenBitInputUsesItsFullPrecision) {
  PreprocessSpec spec;
  const Tensor t8 = run(fixture("malaria/parasitized_P61_cell_164.png"), spec);
  const Tensor t16 = run(fixture("formats/cell_rgb16.png"), spec);
  float maxdiff = 0;
  bool differs = false;
  for (std::size_t i = 0; i < t8.data.size(); ++i) {
    maxdiff = std::fmax(maxdiff, std::fabs(t8.data[i] - t16.data[i]));
    differs = differs || t8.data[i] != t16.data[i];
  }
  EXPECT_LE(maxdiff, 1.0f / 255.0f) << "maxdiff " << maxdiff;
  EXPECT_TRUE(differs);
}

TEST(Preprocess, AlphaIsDropped) {
  Image rgba = make_image(4, 4, 4, 8).take();
  for (int p = 0; p < 16; ++p) {
    rgba.samples[4 * p] = 200;
    rgba.samples[4 * p + 3] = static_cast<std::uint8_t>(p * 16);
  }
  PreprocessSpec spec;
  spec.width = spec.height = 4;
  const Tensor t = run(rgba, spec);
  for (int p = 0; p < 16; ++p) ASSERT_EQ(t.data[p], 200 / 255.0f);
}

TEST(Preprocess, PreviewUndoesNormalisation) {
  const Image img = fixture("pcam/normal_be4fc728.jpg");
  PreprocessSpec spec;
  spec.mean = {0.5f, 0.4f, 0.3f};
  spec.std = {0.2f, 0.25f, 0.3f};
  const Rgba8 preview = tensor_preview(run(img, spec), spec);
  ASSERT_EQ(preview.width, 96);
  int worst = 0;
  for (int p = 0; p < 96 * 96; ++p) {
    for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(preview.pixels[4 * p + c] - img.samples[3 * p + c]));
    ASSERT_EQ(preview.pixels[4 * p + 3], 255);
  }
  EXPECT_LE(worst, 1);
}

TEST(Preprocess, InconsistentInputIsAnError) {
  Image broken;
  broken.width = 10;
  broken.height = 10;
  broken.channels = 3;
  EXPECT_EQ(preprocess(broken, PreprocessSpec{}).error().code, ErrorCode::kInvalidArgument);
  PreprocessSpec bad;
  bad.mean = {0.0f};
  EXPECT_EQ(preprocess(solid(2, 2, 0, 0, 0), bad).error().code, ErrorCode::kInvalidSpec);
}

TEST(Preprocess, TwoStagesEqualOne) {
  PreprocessSpec spec;
  spec.width = 40;
  spec.height = 30;
  spec.aspect = AspectMode::kPad;
  spec.color = ColorMode::kHsv;
  spec.blur.kernel = 5;
  for (const char* path : {"malaria/parasitized_P61_cell_164.png", "formats/cell_gray8.png"}) {
    const Image img = fixture(path);
    Result<Canvas> canvas = resize_to_canvas(img, spec);
    ASSERT_TRUE(canvas.ok());
    EXPECT_EQ(canvas.value().channels, img.color_channels());
    Result<Tensor> staged = canvas_to_tensor(canvas.take(), spec);
    ASSERT_TRUE(staged.ok());
    EXPECT_EQ(staged.value().data, run(img, spec).data) << path;  // bit for bit
  }
  Canvas broken;
  broken.width = broken.height = 2;
  broken.channels = 3;
  EXPECT_EQ(canvas_to_tensor(broken, spec).error().code, ErrorCode::kInvalidArgument);
}

TEST(Thumbnail, FitsTheLongerSide) {
  Result<Rgba8> t = render_thumbnail(fixture("formats/large_2048x1536.jpg"), 256);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().width, 256);
  EXPECT_EQ(t.value().height, 192);
  Result<Rgba8> small = render_thumbnail(fixture("formats/cell_gray8.png"), 256);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small.value().width, 139);
  EXPECT_EQ(small.value().pixels[0], small.value().pixels[1]);  // gray replicated
}

}  // namespace
}  // namespace cellcam
