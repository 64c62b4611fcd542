// test_spec.cpp — the preprocess block: defaults, validation messages, round trip.
#include <gtest/gtest.h>

#include "cellcam/spec.h"

namespace cellcam {
namespace {

std::string parse_error(const std::string& json) {
  Result<PreprocessSpec> r = parse_preprocess_spec(json);
  EXPECT_FALSE(r.ok()) << json;
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidSpec);
  return r.error().message;
}

TEST(Spec, EmptyBlockGivesDefaults) {
  Result<PreprocessSpec> r = parse_preprocess_spec("{}");
  ASSERT_TRUE(r.ok());
  const PreprocessSpec& s = r.value();
  EXPECT_EQ(s.width, 96);
  EXPECT_EQ(s.height, 96);
  EXPECT_EQ(s.filter, ResizeFilter::kTriangle);
  EXPECT_EQ(s.aspect, AspectMode::kStretch);
  EXPECT_EQ(s.color, ColorMode::kRgb);
  EXPECT_EQ(s.mean, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(s.std, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(s.blur.kernel, 0);
}

TEST(Spec, WholeModelSpecOrBareBlock) {
  const std::string block = R"({"width": 50, "height": 40, "color": "gray", "mean": 0.5, "std": [0.25]})";
  Result<PreprocessSpec> bare = parse_preprocess_spec(block);
  Result<PreprocessSpec> model = parse_preprocess_spec(R"({"name": "m", "classes": ["a"], "preprocess": )" + block + "}");
  ASSERT_TRUE(bare.ok() && model.ok());
  for (const PreprocessSpec* s : {&bare.value(), &model.value()}) {
    EXPECT_EQ(s->width, 50);
    EXPECT_EQ(s->height, 40);
    EXPECT_EQ(s->channels(), 1);
    EXPECT_EQ(s->mean, (std::vector<float>{0.5f}));
    EXPECT_EQ(s->std, (std::vector<float>{0.25f}));
  }
}

TEST(Spec, ClearMessagesForMistakes) {
  EXPECT_EQ(parse_error("{\"widht\": 96}"), "preprocess spec: unknown key 'widht'");
  EXPECT_EQ(parse_error("{\"color\": \"cmyk\"}"), "preprocess spec: 'color' is \"cmyk\", expected one of rgb, gray, hsv");
  EXPECT_EQ(parse_error("{\"resize_filter\": 3}"), "preprocess spec: 'resize_filter' must be a string");
  EXPECT_EQ(parse_error("{\"width\": 0}"), "preprocess spec: 'width' must be an integer from 1 to 4096");
  EXPECT_EQ(parse_error("{\"width\": 9.5}"), "preprocess spec: 'width' must be an integer from 1 to 4096");
  EXPECT_EQ(parse_error("{\"mean\": [0.1, 0.2]}"), "preprocess spec: 'mean' has 2 values, colour mode rgb has 3 channels");
  EXPECT_EQ(parse_error("{\"std\": [1, 0, 1]}"), "preprocess spec: 'std' values must be positive");
  EXPECT_EQ(parse_error("{\"std\": \"big\"}"), "preprocess spec: 'std' must be a number or a non-empty array of numbers");
  EXPECT_EQ(parse_error("{\"pad_value\": 2}"), "preprocess spec: 'pad_value' must be a number in [0, 1]");
  EXPECT_EQ(parse_error("{\"blur\": {\"kernel\": 4}}"), "preprocess spec: 'blur.kernel' must be odd");
  EXPECT_EQ(parse_error("{\"blur\": {\"radius\": 4}}"), "preprocess spec: unknown key 'blur.radius'");
  EXPECT_EQ(parse_error("{\"blur\": 5}"), "preprocess spec: 'blur' must be null or an object {\"kernel\": 5, \"sigma\": 0}");
  EXPECT_EQ(parse_error("[1, 2]"), "preprocess spec: the preprocess block must be a JSON object");
  EXPECT_EQ(parse_error("{\"width\": "), "spec is not valid JSON");
}

TEST(Spec, StainBlock) {
  Result<PreprocessSpec> r = parse_preprocess_spec(R"({"stain": {"target_mean": [0.7, 0.5, 0.6], "target_std": 0.1}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r.value().stain.enabled);
  EXPECT_FLOAT_EQ(r.value().stain.target_mean[2], 0.6f);
  EXPECT_EQ(r.value().stain.target_std, std::vector<float>(3, 0.1f));
  EXPECT_FLOAT_EQ(r.value().stain.foreground_above, 0.1f);
  Result<PreprocessSpec> back = parse_preprocess_spec(preprocess_spec_to_json(r.value()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(preprocess_spec_to_json(back.value()), preprocess_spec_to_json(r.value()));
  EXPECT_FALSE(parse_preprocess_spec(R"({"stain": null})").value().stain.enabled);
  EXPECT_FALSE(parse_preprocess_spec("{}").value().stain.enabled);

  EXPECT_EQ(parse_error("{\"stain\": {\"target\": 1}}"), "preprocess spec: unknown key 'stain.target'");
  EXPECT_EQ(parse_error("{\"stain\": {\"target_mean\": [0.5, 0.5]}}"),
            "preprocess spec: 'stain' targets need 1 or 3 values (one per RGB channel)");
  EXPECT_EQ(parse_error("{\"stain\": {\"target_std\": 0}}"),
            "preprocess spec: 'stain.target_mean' values must lie in [0, 1] and 'stain.target_std' in (0, 1]");
  EXPECT_EQ(parse_error("{\"stain\": {\"foreground_above\": 1}}"),
            "preprocess spec: 'stain.foreground_above' must be a number in [0, 1)");
  EXPECT_EQ(parse_error("{\"stain\": true}"),
            "preprocess spec: 'stain' must be null or an object {\"target_mean\": [..], \"target_std\": [..], \"foreground_above\": 0.1}");
}

TEST(Spec, BlurDefaultsToFiveTaps) {
  Result<PreprocessSpec> r = parse_preprocess_spec(R"({"blur": {}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().blur.kernel, 5);
  EXPECT_EQ(r.value().blur.sigma, 0.0);
}

TEST(Spec, RoundTripThroughJson) {
  Result<PreprocessSpec> a = parse_preprocess_spec(
      R"({"width": 64, "height": 48, "resize_filter": "mitchell", "aspect": "pad", "pad_value": 0.25,
          "color": "hsv", "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6], "blur": {"kernel": 7, "sigma": 1.5}})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  Result<PreprocessSpec> b = parse_preprocess_spec(preprocess_spec_to_json(a.value()));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(preprocess_spec_to_json(a.value()), preprocess_spec_to_json(b.value()));
  EXPECT_EQ(b.value().filter, ResizeFilter::kMitchell);
  EXPECT_EQ(b.value().aspect, AspectMode::kPad);
  EXPECT_EQ(b.value().color, ColorMode::kHsv);
  EXPECT_EQ(b.value().blur.kernel, 7);
  EXPECT_EQ(b.value().blur.sigma, 1.5);
  EXPECT_EQ(b.value().std, (std::vector<float>{0.4f, 0.5f, 0.6f}));
}

}  // namespace
}  // namespace cellcam
