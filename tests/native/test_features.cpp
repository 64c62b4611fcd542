// test_features.cpp — the pictures of `cellcam features` (features_grid.h) as numbers: filter tiles scaled
// per filter, activation tiles on one shared scale per layer, dead channels, grid layout and gaps.
// Pure functions: no model, no LibTorch.
#include <gtest/gtest.h>

#include "features_grid.h"

namespace cellcam::explain {
namespace {

TEST(FeatureGrid, FiltersAreScaledPerFilterAndDrawnAsRgb) {
  // 2 filters (out=2, in=3, 1x1): the second is the first times 10, so per-filter scaling draws them alike.
  const float w[] = {0.0f, 0.5f, 1.0f, 0.0f, 5.0f, 10.0f};
  Result<FloatGrid> g = filter_grid(w, 2, 3, 1, 1, /*scale=*/2, /*gap=*/1);
  ASSERT_TRUE(g);
  EXPECT_EQ(g.value().width, 5);   // 2 tiles of 2 px + 1 px gap
  EXPECT_EQ(g.value().height, 2);
  EXPECT_EQ(g.value().channels, 3);
  const auto& v = g.value().values;
  EXPECT_FLOAT_EQ(v[0], 0.0f);                  // tile 0, R
  EXPECT_FLOAT_EQ(v[1], 0.5f);                  // G
  EXPECT_FLOAT_EQ(v[2], 1.0f);                  // B
  EXPECT_FLOAT_EQ(v[3 * 3 + 1], 0.5f);          // tile 1 starts at x = 3: same colours as tile 0
  EXPECT_EQ(g.value().inside[2], 0);            // the gap column
  const Image img = draw_grid(g.value(), Colormap::kViridis);
  EXPECT_EQ(img.samples[2 * 3], 255);           // gaps are white
  EXPECT_EQ(img.samples[2], 255);               // B of pixel 0 = 1.0
}

TEST(FeatureGrid, GrayFiltersUseTheMeanOverInputChannels) {
  const float w[] = {0.0f, 2.0f, 4.0f, 6.0f};  // out=1, in=2, 1x2: means 2 and 4
  Result<FloatGrid> g = filter_grid(w, 1, 2, 1, 2, 1, 0);
  ASSERT_TRUE(g);
  EXPECT_EQ(g.value().channels, 1);
  EXPECT_FLOAT_EQ(g.value().values[0], 0.0f);
  EXPECT_FLOAT_EQ(g.value().values[1], 1.0f);
}

TEST(FeatureGrid, ActivationsShareOneScaleAndDeadChannelsCount) {
  // 3 channels of 1x2: one dead, one up to 2, one up to 4; after a ReLU, so the scale is 0..4.
  const float a[] = {0, 0, 1, 2, 0, 4};
  const LayerStats s = layer_stats(a, 3, 1, 2);
  EXPECT_EQ(s.dead, 1);
  EXPECT_FLOAT_EQ(s.max, 4.0f);
  const ColourScale r = layer_scale(s);
  EXPECT_FLOAT_EQ(r.lo, 0.0f);
  EXPECT_FLOAT_EQ(r.hi, 4.0f);
  Result<FloatGrid> g = activation_grid(a, 3, 1, 2, r, /*max_channels=*/2, 1, 1);
  ASSERT_TRUE(g);
  EXPECT_EQ(g.value().width, 5);  // 2 tiles shown (cap), 2 columns
  EXPECT_EQ(g.value().height, 1);
  EXPECT_FLOAT_EQ(g.value().values[3], 0.25f);  // channel 1's 1 on the shared 0..4 scale
  EXPECT_FLOAT_EQ(g.value().values[4], 0.5f);
}

TEST(FeatureGrid, NegativeLayersUseMinToMaxAndFlatLayersDoNotDivideByZero) {
  const float a[] = {-2, 2};
  EXPECT_FLOAT_EQ(layer_scale(layer_stats(a, 1, 1, 2)).lo, -2.0f);
  const float z[] = {0, 0};
  const ColourScale r = layer_scale(layer_stats(z, 1, 1, 2));
  EXPECT_GT(r.hi, r.lo);
  EXPECT_EQ(enlargement(8, 48), 6);
  EXPECT_EQ(enlargement(64, 48), 1);
  EXPECT_FALSE(activation_grid(a, 1, 1, 2, ColourScale{1, 1}, 1, 1, 0));
}

}  // namespace
}  // namespace cellcam::explain
