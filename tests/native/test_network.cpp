// test_network.cpp — every preset builds as a torch module whose parameter count equals the spec's
// own count, produces (N, outputs) logits, exposes its layers by the spec's names, and learns.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cellcam/model_spec.h"
#include "network.h"

namespace cellcam::native {
namespace {

ModelSpec spec_for(const std::string& preset, int classes, const std::string& color = "rgb") {
  std::string names = "[";
  for (int c = 0; c < classes; ++c) names += (c ? ",\"c" : "\"c") + std::to_string(c) + "\"";
  names += "]";
  const std::string json = R"({"name": "t", "classes": )" + names + R"(, "preprocess": {"width": 32, "height": 32, "color": ")" +
                           color + R"("}, "architecture": {"preset": ")" + preset + R"(", "width": 8}})";
  Result<ModelSpec> r = parse_model_spec(json);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.take();
}

class Presets : public ::testing::TestWithParam<std::string> {};

TEST_P(Presets, ModuleMatchesTheSpec) {
  torch::manual_seed(0);
  for (int classes : {2, 8}) {
    const ModelSpec spec = spec_for(GetParam(), classes);
    Network net(spec);
    long long params = 0;
    for (const auto& p : net->parameters()) params += p.numel();
    Result<std::vector<LayerShape>> shapes = infer_shapes(spec);
    ASSERT_TRUE(shapes.ok());
    EXPECT_EQ(params, parameter_count(shapes.value(), spec)) << GetParam();
    // The running statistics are the spec's non-trainable count (num_batches_tracked is torch's own).
    long long statistics = 0;
    for (const auto& b : net->named_buffers())
      if (b.key().find("running_") != std::string::npos) statistics += b.value().numel();
    EXPECT_EQ(statistics, non_trainable_count(shapes.value())) << GetParam();
    net->eval();
    const torch::Tensor logits = net->forward(torch::randn({3, 3, 32, 32}));  // (N,C,H,W)
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, spec.outputs()}));
  }
}

INSTANTIATE_TEST_SUITE_P(All, Presets, ::testing::ValuesIn(preset_names()));

TEST(Network, NamesFollowTheSpec) {
  const ModelSpec spec = spec_for("resnet18", 2);
  Network net(spec);
  const auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("features.0.weight"));
  EXPECT_TRUE(params.contains("features.5.body.0.weight"));
  EXPECT_TRUE(params.contains("features.5.shortcut.0.weight"));
  EXPECT_TRUE(params.contains("head.weight"));
  net->eval();
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  auto [logits, activation] = net->forward_with_activation(x, "features.10");
  EXPECT_EQ(activation.sizes(), (std::vector<int64_t>{2, 64, 4, 4}));  // the last stage, before GAP
  EXPECT_TRUE(torch::equal(logits, net->forward(x)));                 // the same graph as forward()
  EXPECT_THROW(net->forward_with_activation(torch::randn({1, 3, 32, 32}), "features.99"), std::invalid_argument);
}

TEST(Network, SwishAndSigmoid) {
  Result<ModelSpec> r = parse_model_spec(
      R"({"classes": ["a", "b"], "preprocess": {"width": 4, "height": 4, "color": "gray", "mean": 0, "std": 1},
          "architecture": {"layers": [{"type": "swish"}, {"type": "flatten"}, {"type": "sigmoid"}]}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  Network net(r.value());
  net->eval();
  const torch::Tensor x = torch::randn({2, 1, 4, 4});  // (N,C,H,W)
  auto [logits, activation] = net->forward_with_activation(x, "features.2");
  EXPECT_TRUE(torch::allclose(activation, torch::sigmoid((x * torch::sigmoid(x)).flatten(1)), 1e-6, 1e-6));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1}));
}

TEST(Network, PenaltiesComeFromTheSpec) {
  Result<ModelSpec> r = parse_model_spec(
      R"({"classes": ["a", "b"], "preprocess": {"width": 4, "height": 4, "color": "gray", "mean": 0, "std": 1},
          "architecture": {"layers": [{"type": "conv", "out": 2, "l2": 0.5}, {"type": "flatten"},
                                      {"type": "dense", "out": 3, "l1": 0.25}]}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  Network net(r.value());
  for (auto& p : net->parameters()) p.data().fill_(2.0);
  // conv weight 2x1x3x3 = 18 values of 2: 0.5 * 18 * 4 = 36; dense weight 3x32 = 96 values: 0.25 * 96 * 2 = 48.
  EXPECT_NEAR(net->penalty().item<float>(), 36.0f + 48.0f, 1e-4f);
}

// A few Adam steps on a separable toy problem must drive the loss down: the graph is trainable.
TEST(Network, Learns) {
  torch::manual_seed(1);
  const ModelSpec spec = spec_for("malaria_bn_se", 2);
  Network net(spec);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  const torch::Tensor x = torch::randn({32, 3, 32, 32});
  const torch::Tensor y = (x.mean({1, 2, 3}) > 0).to(torch::kFloat).unsqueeze(1);  // (N,1)
  float first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    const torch::Tensor loss = torch::binary_cross_entropy_with_logits(net->forward(x), y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<float>();
    last = loss.item<float>();
  }
  EXPECT_LT(last, first * 0.5f) << "first " << first << " last " << last;
}

}  // namespace
}  // namespace cellcam::native
