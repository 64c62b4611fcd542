// test_export.cpp — `cellcam export` and `cellcam gradcam` on a small trained run: the model folder's
// files and model.json contract (SHA-256 of model.onnx, threshold, CAM layer, shapes), the folder
// loading back to the same network, Grad-CAM output images, and error handling. The numerical parity of
// the exported graph against LibTorch is tests/node/onnx_parity.test.mjs (golden fixtures).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cam_layer.h"
#include "cellcam/decode.h"
#include "cellcam/model_card.h"
#include "cellcam/version.h"
#include "decode_any.h"
#include "export_model.h"
#include "file_io.h"
#include "gradcam.h"
#include "gradcam_images.h"
#include "predictions.h"
#include "quantize.h"
#include "trained_model.h"
#include "trainer.h"
#include "tta.h"

namespace cellcam::explain {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One small run shared by the tests (training takes a few seconds).
const fs::path& trained_run() {
  static const fs::path run = [] {
    const fs::path out = fs::temp_directory_path() / "cellcam_export_run";
    fs::remove_all(out);
    train::TrainSettings s;
    s.data = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";
    s.out = out.string();
    s.preset = "malaria_bn_se";
    s.image_size = 32;
    s.epochs = 12;
    s.batch_size = 8;
    s.lr = 2e-3;
    s.augment = "none";
    s.val_fraction = 0.25;
    s.test_fraction = 0.25;
    s.patience = 0;
    s.threads = 2;
    s.positive_class = "Parasitized";
    EXPECT_EQ(train::run_train(s), 0);
    return out;
  }();
  return run;
}

}  // namespace

std::string trained_run_path() { return trained_run().string(); }

namespace {

TEST(Export, Sha256KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// The run folder carries its model.json (the shared card, no ONNX yet) from the first epoch, with the
// operating point report.json chose; export ships the same card with the ONNX file's SHA-256, provenance
// and the card's fields inside model.onnx's metadata_props.
TEST(Export, RunFolderCarriesItsCardAndExportShipsIt) {
  Result<std::string> run_text = native::read_text((trained_run() / "model.json").string());
  ASSERT_TRUE(run_text.ok());
  Result<ModelCard> run_card = parse_model_card(run_text.value(), /*require_onnx=*/false);
  ASSERT_TRUE(run_card.ok()) << run_card.error().message;
  EXPECT_EQ(run_card.value().classes, (std::vector<std::string>{"Uninfected", "Parasitized"}));
  EXPECT_TRUE(run_card.value().onnx.sha256.empty());
  EXPECT_TRUE(run_card.value().has_architecture);
  const json report = json::parse(read(trained_run() / "report.json"));
  EXPECT_DOUBLE_EQ(run_card.value().threshold, report["threshold"]["value"].get<double>());
  EXPECT_EQ(run_card.value().data_list_sha256, sha256_hex(read(trained_run() / "split.csv")));

  const fs::path out = fs::temp_directory_path() / "cellcam_export_card";
  fs::remove_all(out);
  ExportSettings s;
  s.run = trained_run().string();
  s.out = out.string();
  ASSERT_EQ(run_export(s), 0);
  const std::string text = read(out / "model.json");
  Result<ModelCard> card = parse_model_card(text);
  ASSERT_TRUE(card.ok()) << card.error().message;
  EXPECT_EQ(model_card_to_json(card.value()), text);  // written by the card's own writer
  EXPECT_EQ(card.value().schema_version, kModelCardSchema);
  EXPECT_EQ(card.value().cellcam_version, version_string());
  EXPECT_EQ(card.value().data_list_sha256, run_card.value().data_list_sha256);
  EXPECT_EQ(text.find(fs::temp_directory_path().string()), std::string::npos) << "a temporary path in model.json";
  const std::string onnx = read(out / "model.onnx");
  EXPECT_NE(onnx.find("cellcam.classes"), std::string::npos);
  EXPECT_NE(onnx.find("[\"Uninfected\",\"Parasitized\"]"), std::string::npos);
}

TEST(Export, ModelFolderHoldsTheContract) {
  const fs::path out = fs::temp_directory_path() / "cellcam_export_model";
  fs::remove_all(out);
  ExportSettings s;
  s.run = trained_run().string();
  s.out = out.string();
  ASSERT_EQ(run_export(s), 0);
  for (const char* f : {"model.onnx", "model.json", "weights.pt", "README.md"}) EXPECT_TRUE(fs::is_regular_file(out / f)) << f;

  const json model = json::parse(read(out / "model.json"));
  EXPECT_EQ(model["name"], "cellcam_export_model");
  EXPECT_EQ(model["onnx"]["sha256"], sha256_hex(read(out / "model.onnx")));
  EXPECT_EQ(model["onnx"]["opset"], 13);
  EXPECT_EQ(model["classes"], json({"Uninfected", "Parasitized"}));
  EXPECT_EQ(model["head"], "binary");
  EXPECT_EQ(model["input"]["shape"], json({"N", 3, 32, 32}));
  EXPECT_EQ(model["cam"]["layer"], "features.14");  // malaria_bn_se: the last block's pool
  EXPECT_EQ(model["outputs"]["cam"], json({"N", 2, 4, 4}));
  const json report = json::parse(read(trained_run() / "report.json"));
  EXPECT_DOUBLE_EQ(model["threshold"].get<double>(), report["threshold"]["value"].get<double>());
  EXPECT_DOUBLE_EQ(model["metrics"]["accuracy"].get<double>(), report["test"]["accuracy"].get<double>());
  EXPECT_EQ(model["preprocess"]["width"], 32);

  // The folder loads back to the same network and threshold as the run.
  Result<train::LoadedRun> a = train::load_run(trained_run().string());
  Result<train::LoadedRun> b = train::load_run(out.string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b.value().exported);
  EXPECT_DOUBLE_EQ(a.value().threshold, b.value().threshold);
  EXPECT_EQ(b.value().cam_layer, "features.14");
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({3, 3, 32, 32});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(a.value().net->forward(x), b.value().net->forward(x)));
}

TEST(Export, RefusesBadInputsWithExitOne) {
  ExportSettings s;
  s.run = trained_run().string();
  s.out = (fs::temp_directory_path() / "cellcam_export_bad").string();
  s.cam_layer = "features.99";
  EXPECT_EQ(run_export(s), 1);
  s.cam_layer = "features.17";  // the feature vector after global pooling: not (C,H,W)
  EXPECT_EQ(run_export(s), 1);
  s.cam_layer.clear();
  s.run = "/nonexistent/run";
  EXPECT_EQ(run_export(s), 1);
}

// --quantize int8 on a run folder: model.json's "quantization" block (val and test, before and after, the
// sizes), the card's section, a smaller graph, and weights.pt rounded as the graph stores its weights, so
// `cellcam eval|predict` on the folder compute what the page does. A model folder without --eval-data says
// its change was not measured; a mode it does not know, or --eval-data without --quantize, is exit 1.
TEST(Export, QuantizedExportMeasuresTheChangeAndRoundsWeightsPt) {
  const fs::path out = fs::temp_directory_path() / "cellcam_export_int8";
  fs::remove_all(out);
  ExportSettings s;
  s.run = trained_run().string();
  s.out = out.string();
  s.quantize = "int8";
  ASSERT_EQ(run_export(s), 0);
  const json q = json::parse(read(out / "model.json"))["quantization"];
  EXPECT_EQ(q["mode"], "int8");
  ASSERT_EQ(q["parts"].size(), 2u);
  EXPECT_EQ(q["parts"][0]["part"], "val");
  EXPECT_EQ(q["parts"][1]["part"], "test");
  EXPECT_GT(q["parts"][1]["images"].get<int>(), 0);
  EXPECT_TRUE(q["parts"][1]["after"]["accuracy"].is_number());
  EXPECT_LT(q["parts"][1]["max_abs_prob_diff"].get<double>(), 0.1);
  EXPECT_EQ(q["onnx_bytes"].get<long long>(), static_cast<long long>(fs::file_size(out / "model.onnx")));
  EXPECT_LT(q["onnx_bytes"].get<double>(), 0.5 * q["onnx_bytes_float32"].get<double>());
  EXPECT_NE(read(out / "README.md").find("## Quantisation (int8)"), std::string::npos);

  Result<train::LoadedRun> fp32 = train::load_run(trained_run().string());
  Result<train::LoadedRun> int8 = train::load_run(out.string());
  ASSERT_TRUE(fp32.ok() && int8.ok());
  auto rounded = int8.value().net->named_parameters();
  int checked = 0;
  for (const auto& p : fp32.value().net->named_parameters()) {
    const torch::Tensor w = p.value().detach().contiguous();
    const torch::Tensor got = rounded[p.key()].detach().contiguous();
    if (w.dim() < 2) {
      EXPECT_TRUE(torch::equal(w, got)) << p.key();
      continue;
    }
    const std::vector<float> want = round_trip(std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()), w.size(0), Quantize::kInt8);
    EXPECT_TRUE(torch::equal(got, torch::from_blob(const_cast<float*>(want.data()), w.sizes(), torch::kFloat))) << p.key();
    ++checked;
  }
  EXPECT_GT(checked, 3);

  ExportSettings again;  // the exported folder, quantised again: no split, so nothing measured
  again.run = out.string();
  again.out = (fs::temp_directory_path() / "cellcam_export_int8_again").string();
  again.force = true;
  again.quantize = "fp16";
  ASSERT_EQ(run_export(again), 0);
  const json q2 = json::parse(read(fs::path(again.out) / "model.json"))["quantization"];
  EXPECT_TRUE(q2["parts"].empty());
  EXPECT_NE(q2["note"].get<std::string>().find("not measured"), std::string::npos);
  again.quantize = "int4";
  EXPECT_EQ(run_export(again), 1);
  again.quantize = "none";
  again.eval_data = s.run;
  EXPECT_EQ(run_export(again), 1);
}

TEST(Export, CamLayerDefaultsToTheLastSpatialLayer) {
  Result<ModelSpec> spec = parse_model_spec(R"({"classes":["a","b"],"preprocess":{"width":32,"height":32},
                                                "architecture":{"preset":"resnet18","width":8}})");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  Result<CamTarget> t = resolve_cam_layer(spec.value(), "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().layer, "features.10");  // the last residual block, before global pooling
  EXPECT_EQ(t.value().channels, 64);
  EXPECT_EQ(t.value().height, 4);
  Result<CamTarget> early = resolve_cam_layer(spec.value(), "features.4");
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early.value().height, 32);
  EXPECT_FALSE(resolve_cam_layer(spec.value(), "features.11").ok());
}

TEST(Gradcam, WritesHeatmapsAndOverlaysAndReportsBrokenFiles) {
  const fs::path out = fs::temp_directory_path() / "cellcam_gradcam_out";
  fs::remove_all(out);
  GradcamSettings s;
  s.model = trained_run().string();
  s.inputs = {std::string(CELLCAM_TEST_DATA_DIR) + "/malaria", std::string(CELLCAM_TEST_DATA_DIR) + "/malformed/truncated.png"};
  s.out = out.string();
  s.target = "all";
  EXPECT_EQ(run_gradcam(s), 2);  // one input failed, the others were explained
  const std::string csv = read(out / "gradcam.csv");
  int rows = 0;
  for (char c : csv) rows += c == '\n';
  EXPECT_EQ(rows, 1 + 4 + 1);
  EXPECT_NE(csv.find("truncated.png"), std::string::npos);
  // Every good image: one heatmap and one overlay per class, at the image's own size.
  for (const auto& entry : fs::directory_iterator(std::string(CELLCAM_TEST_DATA_DIR) + "/malaria")) {
    const std::string stem = entry.path().stem().string();
    Result<std::vector<std::uint8_t>> original = native::read_file(entry.path().string());
    ASSERT_TRUE(original.ok());
    Result<Image> source = native::decode_any(original.value().data(), original.value().size());
    ASSERT_TRUE(source.ok());
    for (const char* cls : {"Uninfected", "Parasitized"}) {
      for (const char* kind : {"heatmap", "overlay"}) {
        const fs::path png = out / (stem + "." + cls + "." + kind + ".png");
        ASSERT_TRUE(fs::is_regular_file(png)) << png;
        Result<std::vector<std::uint8_t>> bytes = native::read_file(png.string());
        Result<Image> image = native::decode_any(bytes.value().data(), bytes.value().size());
        ASSERT_TRUE(image.ok());
        EXPECT_EQ(image.value().width, source.value().width);
        EXPECT_EQ(image.value().height, source.value().height);
      }
    }
  }
  GradcamSettings bad = s;
  bad.target = "Platelet";
  EXPECT_EQ(run_gradcam(bad), 1);
  bad = s;
  bad.colormap = "rainbow";
  EXPECT_EQ(run_gradcam(bad), 1);
}

// A binary head's two maps come from +logit and -logit: their channel weights are opposite, so
// wherever one map is positive the other is zero.
TEST(Gradcam, BinaryClassMapsComeFromPlusAndMinusLogit) {
  Result<train::LoadedRun> r = train::load_run(trained_run().string());
  ASSERT_TRUE(r.ok());
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const CamMaps maps = compute_cams(r.value().net, x, "features.14");
  ASSERT_EQ(maps.gradcam.sizes(), torch::IntArrayRef({2, 2, 4, 4}));
  // relu(sum w A) and relu(-sum w A): where one is positive the other is zero.
  EXPECT_EQ((maps.gradcam.select(1, 0) * maps.gradcam.select(1, 1)).abs().max().item<float>(), 0.0f);
  EXPECT_GT(maps.gradcam.max().item<float>(), 0.0f);
}

}  // namespace
}  // namespace cellcam::explain

namespace cellcam::train {
namespace {

// Test-time augmentation averages over the dihedral group, so it cannot tell a rotated or flipped
// image from the original (exactly, up to float summation order), while a single forward pass can.
TEST(Tta, DihedralMeanIsInvariantToFlipsAndRotations) {
  Result<LoadedRun> r = load_run(explain::trained_run_path());
  ASSERT_TRUE(r.ok());
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({4, 3, 32, 32});
  const torch::Tensor a = tta_probabilities(r.value().net, x, true);
  const torch::Tensor b = tta_probabilities(r.value().net, torch::rot90(x, 1, {2, 3}).flip({2}), true);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({4, 2}));
  EXPECT_LT((a - b).abs().max().item<float>(), 1e-5f);
  const torch::Tensor plain = probabilities(r.value().net->forward(x), true);
  const torch::Tensor plain_rotated = probabilities(r.value().net->forward(torch::rot90(x, 1, {2, 3}).contiguous()), true);
  EXPECT_GT((plain - plain_rotated).abs().max().item<float>(), 1e-4f);  // the network itself is not invariant
  EXPECT_LT((a.sum(1) - 1).abs().max().item<float>(), 1e-5f);
}

}  // namespace
}  // namespace cellcam::train
