// test_tiling.cpp — tile grids cover every pixel with full-size tiles, inside the image.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "cellcam/tiling.h"

namespace cellcam {
namespace {

TEST(Tiling, MicroscopyPhotoInNonOverlappingTiles) {
  Result<TileGrid> g = tile_grid(2048, 1536, 512, 512);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value().columns, 4);
  EXPECT_EQ(g.value().rows, 3);
  ASSERT_EQ(g.value().tiles.size(), 12u);
  EXPECT_EQ(g.value().tiles[5].x, 512);
  EXPECT_EQ(g.value().tiles[5].y, 512);
}

TEST(Tiling, OverlappingTilesEndAtTheEdge) {
  Result<TileGrid> g = tile_grid(2048, 1536, 512, 384);
  ASSERT_TRUE(g.ok());
  std::vector<int> xs, ys;
  for (int c = 0; c < g.value().columns; ++c) xs.push_back(g.value().tiles[c].x);
  for (int r = 0; r < g.value().rows; ++r) ys.push_back(g.value().tiles[r * g.value().columns].y);
  EXPECT_EQ(xs, (std::vector<int>{0, 384, 768, 1152, 1536}));
  EXPECT_EQ(ys, (std::vector<int>{0, 384, 768, 1024}));
}

TEST(Tiling, SmallImageIsOneTile) {
  Result<TileGrid> g = tile_grid(100, 80, 512, 256);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g.value().tiles.size(), 1u);
  EXPECT_EQ(g.value().tiles[0].width, 100);
  EXPECT_EQ(g.value().tiles[0].height, 80);
}

TEST(Tiling, BadArgumentsAreErrors) {
  EXPECT_EQ(tile_grid(100, 100, 0, 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tile_grid(100, 100, 64, 0).error().message, "tile stride must be between 1 and the tile size (64), got 0");
  EXPECT_EQ(tile_grid(100, 100, 64, 65).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tile_grid(0, 100, 64, 64).error().code, ErrorCode::kInvalidArgument);
}

class TilingCoverage : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

TEST_P(TilingCoverage, EveryPixelOnceOrMoreAndEveryTileInside) {
  const auto [w, h, tile, stride] = GetParam();
  Result<TileGrid> g = tile_grid(w, h, tile, stride);
  ASSERT_TRUE(g.ok()) << g.error().message;
  const TileGrid& grid = g.value();
  ASSERT_EQ(grid.tiles.size(), static_cast<std::size_t>(grid.columns * grid.rows));
  std::vector<int> hits(static_cast<std::size_t>(w) * h, 0);
  std::set<std::pair<int, int>> origins;
  for (const Rect& r : grid.tiles) {
    EXPECT_GE(r.x, 0);
    EXPECT_GE(r.y, 0);
    EXPECT_LE(r.x + r.width, w);
    EXPECT_LE(r.y + r.height, h);
    EXPECT_EQ(r.width, w < tile ? w : tile);
    EXPECT_EQ(r.height, h < tile ? h : tile);
    EXPECT_TRUE(origins.insert({r.x, r.y}).second) << "duplicate tile";
    for (int y = r.y; y < r.y + r.height; ++y)
      for (int x = r.x; x < r.x + r.width; ++x) ++hits[static_cast<std::size_t>(y) * w + x];
  }
  for (int v : hits) ASSERT_GT(v, 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, TilingCoverage,
                         ::testing::Values(std::make_tuple(2048, 1536, 512, 512), std::make_tuple(2048, 1536, 512, 384),
                                           std::make_tuple(1000, 700, 96, 96), std::make_tuple(1000, 700, 96, 48),
                                           std::make_tuple(97, 96, 96, 96), std::make_tuple(96, 96, 96, 1),
                                           std::make_tuple(50, 300, 96, 80), std::make_tuple(1, 1, 8, 8)));

}  // namespace
}  // namespace cellcam
