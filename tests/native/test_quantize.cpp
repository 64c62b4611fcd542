// test_quantize.cpp — quantize.h without a trained run: binary16 rounding, per-channel int8, and a small
// graph (a convolution and the ConvTranspose that reads the same kernel, as the Grad-CAM backward pass does)
// quantised to fp16 and int8: checked by libonnx, weights stored smaller, widened by nodes that come first, and
// the widened values what round_trip() gives (which is what weights.pt holds). What ONNX Runtime computes
// with these graphs is tests/node/quantize.test.mjs.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <random>

#include "onnx_graph.h"
#include "quantize.h"

namespace cellcam::explain {
namespace {

TEST(Quantize, ParsesItsModes) {
  EXPECT_EQ(parse_quantize("none").value(), Quantize::kNone);
  EXPECT_EQ(parse_quantize("fp16").value(), Quantize::kFp16);
  EXPECT_EQ(parse_quantize("int8").value(), Quantize::kInt8);
  Result<Quantize> bad = parse_quantize("int4");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_STREQ(quantize_name(Quantize::kInt8), "int8");
}

TEST(Quantize, HalfKnownValuesAndEveryHalfRoundTrips) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);                   // rounds to infinity
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);      // the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);      // below half of it
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // a tie goes to even
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x03ff)) continue;  // NaN payloads
    ASSERT_EQ(float_to_half(half_to_float(bits)), bits) << std::hex << h;
  }
}

TEST(Quantize, Int8IsPerChannelSymmetricWithinHalfAStep) {
  const std::vector<float> w = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f, 3.0f, -0.03f, 0.01f};
  const Int8Tensor q = quantize_int8(w, 3);
  ASSERT_EQ(q.scales.size(), 3u);
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f / 127.0f);
  EXPECT_FLOAT_EQ(q.scales[1], 1.0f);  // an all-zero channel
  EXPECT_FLOAT_EQ(q.scales[2], 3.0f / 127.0f);
  EXPECT_EQ(q.q[1], -127);
  EXPECT_EQ(q.q[6], 127);
  const std::vector<float> back = dequantize_int8(q);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_LE(std::fabs(back[i] - w[i]), q.scales[i / 3] / 2 + 1e-7f) << i;
}

// weights.pt holds round_trip(w); the exporter folds batch norm into it (a constant per output channel)
// and the graph rounds again: for int8 that must change nothing, so the page and `cellcam eval` agree.
TEST(Quantize, Int8RoundTripIsStableUnderPerChannelScaling) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  std::vector<float> w(16 * 27);
  for (float& v : w) v = normal(rng);
  const std::vector<float> once = round_trip(w, 16, Quantize::kInt8);
  std::vector<float> folded = once;
  for (std::size_t i = 0; i < folded.size(); ++i) folded[i] *= (i / 27 % 2 ? -0.37f : 2.9f);
  const std::vector<float> again = round_trip(folded, 16, Quantize::kInt8);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(again[i], folded[i], 1e-6f * (1.0f + std::fabs(folded[i]))) << i;
  const std::vector<float> half = round_trip(w, 16, Quantize::kFp16);
  EXPECT_EQ(round_trip(half, 16, Quantize::kFp16), half);
}

// ---------------------------------------------------------------------------------------------------
// a graph

std::vector<float> kernel() {
  std::vector<float> w(4 * 3 * 3 * 3);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.7f * static_cast<float>(i)) * (1.0f + static_cast<float>(i / 27));
  return w;
}

// input (N,3,8,8) -> Conv(W, b) -> y (N,4,8,8); ConvTranspose(y, W) -> back (N,3,8,8).
std::string conv_graph() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 8, 8});
  const std::string w = g.constant("conv.weight", {4, 3, 3, 3}, kernel());
  const std::string b = g.constant("conv.bias", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  const std::vector<Attr> attrs = {Attr::Ints("kernel_shape", {3, 3}), Attr::Ints("pads", {1, 1, 1, 1})};
  g.rename_output(g.node("Conv", {"input", w, b}, attrs, "conv_out"), "y");
  g.rename_output(g.node("ConvTranspose", {"y", w}, attrs, "back_out"), "back");
  g.add_output("y", {-1, 4, 8, 8});
  g.add_output("back", {-1, 3, 8, 8});
  Result<std::string> bytes = g.finish("test", "conv and its transpose");
  EXPECT_TRUE(bytes.ok()) << bytes.error().message;
  return bytes.take();
}

const onnx::TensorProto* find(const onnx::GraphProto& g, const std::string& name) {
  for (const onnx::TensorProto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

TEST(Quantize, Int8GraphStoresTheKernelOnceAndWidensItFirst) {
  const std::string fp32 = conv_graph();
  Result<QuantizedGraph> q = quantize_graph(fp32, Quantize::kInt8);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q.value().tensors, 1);  // the kernel; the bias (rank 1) stays float32
  EXPECT_EQ(q.value().weight_bytes_before, 108 * 4);
  EXPECT_EQ(q.value().weight_bytes_after, 108 + 4 * 4);
  EXPECT_LT(q.value().bytes.size(), fp32.size());
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(q.value().bytes));
  const onnx::GraphProto& g = m.graph();
  ASSERT_GE(g.node_size(), 2);
  EXPECT_EQ(g.node(0).op_type(), "Cast");
  EXPECT_EQ(g.node(1).op_type(), "Mul");  // before the Conv that reads its output
  EXPECT_EQ(g.node(1).input(0), g.node(0).output(0));
  const std::string widened = g.node(1).output(0);
  EXPECT_EQ(widened, "conv.weight");
  int readers = 0;
  for (const onnx::NodeProto& n : g.node())
    for (const std::string& in : n.input()) readers += in == widened;
  EXPECT_EQ(readers, 2);  // Conv and ConvTranspose read the same widened kernel
  const onnx::TensorProto* stored = find(g, g.node(0).input(0));
  const onnx::TensorProto* scales = find(g, g.node(1).input(1));
  ASSERT_TRUE(stored && scales);
  EXPECT_EQ(stored->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(std::vector<std::int64_t>(scales->dims().begin(), scales->dims().end()), (std::vector<std::int64_t>{4, 1, 1, 1}));
  ASSERT_TRUE(find(g, "conv.bias") != nullptr);
  EXPECT_EQ(find(g, "conv.bias")->data_type(), onnx::TensorProto::FLOAT);
  // What Cast and Mul yield is round_trip(): the weights weights.pt holds.
  const std::vector<float> expect = round_trip(kernel(), 4, Quantize::kInt8);
  const auto* q8 = reinterpret_cast<const std::int8_t*>(stored->raw_data().data());
  const auto* s = reinterpret_cast<const float*>(scales->raw_data().data());
  for (std::size_t i = 0; i < expect.size(); ++i) EXPECT_EQ(static_cast<float>(q8[i]) * s[i / 27], expect[i]) << i;
}

TEST(Quantize, Fp16GraphCastsBack) {
  Result<QuantizedGraph> q = quantize_graph(conv_graph(), Quantize::kFp16);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q.value().weight_bytes_after, 108 * 2);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(q.value().bytes));
  EXPECT_EQ(m.graph().node(0).op_type(), "Cast");
  const onnx::TensorProto* stored = find(m.graph(), m.graph().node(0).input(0));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->data_type(), onnx::TensorProto::FLOAT16);
  const std::vector<float> expect = round_trip(kernel(), 4, Quantize::kFp16);
  std::vector<std::uint16_t> halves(expect.size());
  std::memcpy(halves.data(), stored->raw_data().data(), halves.size() * 2);
  for (std::size_t i = 0; i < expect.size(); ++i) EXPECT_EQ(half_to_float(halves[i]), expect[i]) << i;
}

TEST(Quantize, NoneKeepsTheBytesAndGarbageIsAnError) {
  const std::string fp32 = conv_graph();
  EXPECT_EQ(quantize_graph(fp32, Quantize::kNone).value().bytes, fp32);
  Result<QuantizedGraph> bad = quantize_graph("not a model", Quantize::kInt8);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace cellcam::explain
