// test_decision.cpp — the rules after inference (decision.h, ensemble.h, views.h, tiling.h plan/aggregate/
// stitch, cam.h blend_rgba, model_card.h), checked by hand. Compiled natively and to wasm (run under node)
// from this one source, as the page and the CLI run the same C++.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cellcam/cam.h"
#include "cellcam/decision.h"
#include "cellcam/ensemble.h"
#include "cellcam/model_card.h"
#include "cellcam/tiling.h"
#include "cellcam/views.h"

namespace cellcam {
namespace {

const char* kBinaryCard = R"({"schema_version": 1, "name": "m", "classes": ["neg", "pos"], "head": "binary",
  "display_names": ["negative", "positive"], "preprocess": {"width": 64, "height": 64}, "threshold": 0.3,
  "onnx": {"file": "model.onnx", "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}})";

ModelCard card_of(const std::string& text) {
  Result<ModelCard> c = parse_model_card(text);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? c.value() : ModelCard{};
}

std::string with(const std::string& key_value) {  // the binary card with one key added or replaced
  std::string s = kBinaryCard;
  return s.substr(0, s.size() - 1) + ", " + key_value + "}";
}

TEST(Decision, BinaryThresholdAndDefaultBand) {
  const ModelCard card = card_of(kBinaryCard);
  const DecisionRule rule = decision_rule(card);
  EXPECT_DOUBLE_EQ(rule.band.lo, 0.15);
  EXPECT_NEAR(rule.band.hi, 0.45, 1e-12);
  const float a[] = {0.7f, 0.3f}, b[] = {0.71f, 0.29f}, c[] = {0.99f, 0.01f}, d[] = {0.5f, 0.5f};
  EXPECT_EQ(decide(a, rule).index, 1);  // 0.3f is 0.30000001: at the threshold or above
  EXPECT_EQ(decide(b, rule).index, 0);
  EXPECT_FALSE(decide(c, rule).review);
  EXPECT_TRUE(decide(b, rule).review);
  EXPECT_FALSE(decide(d, rule).review);  // 0.5 is above the band
}

TEST(Decision, CardBandAndMulticlass) {
  const DecisionRule banded = decision_rule(card_of(with(R"("review_band": [0.2, 0.8])")));
  const double mid[] = {0.5, 0.5}, sure[] = {0.15, 0.85};
  EXPECT_TRUE(decide(mid, banded).review);
  EXPECT_FALSE(decide(sure, banded).review);
  const ModelCard multi = card_of(R"({"schema_version": 1, "name": "b", "classes": ["a","b","c"], "head": "multiclass",
    "preprocess": {}, "onnx": {"sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}})");
  const DecisionRule rule = decision_rule(multi);
  EXPECT_DOUBLE_EQ(rule.band.hi, 0.6);
  const double p[] = {0.2, 0.7, 0.1}, tie[] = {0.4, 0.4, 0.2};
  EXPECT_EQ(decide(p, rule).index, 1);
  EXPECT_FALSE(decide(p, rule).review);
  EXPECT_EQ(decide(tie, rule).index, 0);  // the first of equal maxima
  EXPECT_TRUE(decide(tie, rule).review);
}

TEST(ModelCard, RefusesWhatItCannotTrust) {
  auto refused = [](const std::string& text, const std::string& part) {
    Result<ModelCard> c = parse_model_card(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidSpec);
    EXPECT_NE(c.error().message.find(part), std::string::npos) << c.error().message;
  };
  refused(R"({"name": "m"})", "schema_version");
  refused(with(R"("schema_version": 2)"), "schema_version 2");
  refused(with(R"("display_names": ["x"])"), "display_names");
  refused(with(R"("threshold": 1.5)"), "threshold");
  refused(with(R"("review_band": [0.6, 0.4])"), "review_band");
  refused(with(R"("onnx": {"file": "/tmp/model.onnx", "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})"), "inside");
  refused(with(R"("onnx": {"file": "model.onnx"})"), "sha256");
  refused("not json", "JSON");
}

TEST(ModelCard, WritesWhatItReads) {
  const ModelCard card = card_of(with(R"("metrics": {"accuracy": 0.95}, "tiling": {"tile": 128, "stride": 96, "above": 600})"));
  const ModelCard again = card_of(model_card_to_json(card));
  EXPECT_EQ(again.display_names, card.display_names);
  EXPECT_EQ(again.onnx.sha256, card.onnx.sha256);
  EXPECT_EQ(again.tiling.stride, 96);
  EXPECT_NE(again.extra_json.find("accuracy"), std::string::npos);
  EXPECT_EQ(model_card_to_json(again), model_card_to_json(card));
  EXPECT_TRUE(check_onnx_outputs(card, {-1, 3, 64, 64}, {-1, 2}, {}).ok());
  EXPECT_FALSE(check_onnx_outputs(card, {-1, 3, 96, 96}, {-1, 2}, {}).ok());
  Result<bool> wrong = check_onnx_outputs(card, {}, {-1, 3}, {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("3 class probabilities"), std::string::npos);
}

TEST(Ensemble, SoftVoteStackingAndDisagreement) {
  const float a[] = {0.8f, 0.2f}, b[] = {0.4f, 0.6f};
  EnsembleInfo e;
  e.members.resize(2);
  e.members[0].weight = 3;
  Result<std::vector<float>> soft = combine_members({a, b}, 1, 2, HeadKind::kBinary, e);
  ASSERT_TRUE(soft.ok());
  EXPECT_NEAR(soft.value()[1], 0.75 * 0.2 + 0.25 * 0.6, 1e-7);
  e.method = CombineMethod::kStacking;
  e.stacking.weights = {{1.0, 2.0}};
  e.stacking.intercepts = {0.5};
  Result<std::vector<float>> st = combine_members({a, b}, 1, 2, HeadKind::kBinary, e);
  ASSERT_TRUE(st.ok());
  const double z = 0.5 + std::log(0.2f / (1 - 0.2f)) + 2 * std::log(0.6f / (1 - 0.6f));
  EXPECT_NEAR(st.value()[1], 1 / (1 + std::exp(-z)), 1e-6);
  const std::vector<double> d = member_disagreement({a, b}, 1, 2, {1, 1});
  EXPECT_NEAR(d[0], 0.2, 1e-7);  // each is 0.2 from the mean (0.6, 0.4) in total variation
}

TEST(Views, InverseOfEveryViewAndTheMeans) {
  const int n = 3;
  std::vector<float> x(n * n);
  for (int i = 0; i < n * n; ++i) x[i] = static_cast<float>(i);
  ASSERT_EQ(view_count(n, n), 8);
  const std::vector<float> v = make_views(x.data(), 1, 1, n, n);  // (8,1,3,3)
  EXPECT_EQ(v[1 * 9 + 0], x[2]);  // one quarter turn: out[0][0] = in[0][2]
  const std::vector<float> back = average_view_cams(v.data(), 1, 8, 1, n, n);
  for (int i = 0; i < n * n; ++i) EXPECT_FLOAT_EQ(back[i], x[i]);
  const float probs[] = {0.2f, 0.8f, 0.6f, 0.4f};
  EXPECT_NEAR(average_view_probs(probs, 1, 2, 2)[0], 0.4f, 1e-7);
  EXPECT_NEAR(view_disagreement(probs, 1, 2, 2)[0], 0.2, 1e-6);
  EXPECT_EQ(view_count(2, 3), 4);
}

TEST(Tiles, PlanAggregateStitch) {
  const ModelCard card = card_of(kBinaryCard);
  const TileSettings s = default_tile_settings(card);
  EXPECT_EQ(s.tile, 64);
  EXPECT_EQ(s.above, kDefaultTileAbove);
  EXPECT_TRUE(plan_tiles(400, 300, s).value().tiles.empty());  // small enough to classify whole
  EXPECT_EQ(plan_tiles(2048, 1536, s).value().tiles.size(), 32u * 24u);
  TileSettings tiny = s;
  tiny.tile = kMinTile;
  tiny.stride = 1;
  Result<TileGrid> refused = plan_tiles(2048, 1536, tiny);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  tiny.tile = kMinTile - 1;  // below the limits.h minimum: refused whatever the count
  tiny.stride = 0;
  Result<TileGrid> small = plan_tiles(2048, 1536, tiny);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(small.error().message, "a tile of 7 px is outside 8 to 4096 px");
  EXPECT_TRUE(check_file_size(kMaxFileBytes).ok());
  EXPECT_EQ(check_file_size(600LL << 20).error().message, "file is 600 MB; cellcam reads files up to 512 MB");

  const float tiles[] = {0.9f, 0.1f, 0.4f, 0.6f, 0.7f, 0.3f};
  const TileAggregate a = aggregate_tiles(tiles, 3, 2, true, 0.25);
  EXPECT_FLOAT_EQ(a.probs[1], 0.6f);
  EXPECT_EQ(a.best_tile, 1);
  EXPECT_EQ(a.positive_tiles, 2);
  const float multi[] = {0.6f, 0.3f, 0.1f, 0.2f, 0.2f, 0.6f};
  const TileAggregate m = aggregate_tiles(multi, 2, 3, false, 0.5);
  EXPECT_NEAR(m.probs[0], 0.4, 1e-7);
  EXPECT_NEAR(m.probs[2], 0.35, 1e-7);

  // 4x3 tiles of 64 px, 8x8 maps on a 64x64 stretch canvas: tile (1,1) hot for class 1.
  const TileGrid grid = tile_grid(256, 192, 64, 64).value();
  std::vector<float> cams(grid.tiles.size() * 2 * 64, 0.0f);
  std::fill(cams.begin() + (5 * 2 + 1) * 64, cams.begin() + (5 * 2 + 2) * 64, 1.0f);
  PreprocessSpec spec;
  spec.width = spec.height = 64;
  Result<StitchedMap> st = stitch_tile_cams(cams.data(), 2, 8, 8, grid, 256, 192, spec);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.value().width, 32);
  EXPECT_EQ(st.value().height, 24);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x)
      EXPECT_EQ(st.value().maps[32 * 24 + y * 32 + x], (x >= 8 && x < 16 && y >= 8 && y < 16) ? 1.0f : 0.0f);
}

TEST(Cam, BlendRgbaIsOverlaysBlend) {
  const std::uint8_t image[] = {10, 200, 30, 77}, heat[] = {255, 0, 128, 255};
  std::uint8_t out[4];
  blend_rgba(image, heat, 1, 0.5f, out);
  EXPECT_EQ(out[0], 133);  // floor(0.5*10 + 0.5*255 + 0.5)
  EXPECT_EQ(out[1], 100);
  EXPECT_EQ(out[2], 79);
  EXPECT_EQ(out[3], 77);   // alpha kept
}

}  // namespace
}  // namespace cellcam
