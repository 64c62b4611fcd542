// test_distillation.cpp — `cellcam train --teacher` (native/training/distillation.h): which teachers can
// take the student's batch, the batch converted to the teacher's input, the loss and its gradient against
// the closed form, the teacher's probabilities against its own network, and a training that provably
// learns from the teacher (an "anti-teacher" trained on swapped labels makes the student wrong).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "distillation.h"
#include "trainer.h"

namespace fs = std::filesystem;
using namespace cellcam;
using namespace cellcam::train;

namespace {

const std::string kSmoke = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";

TrainSettings tiny_settings(const std::string& data, const fs::path& out) {
  TrainSettings s;
  s.data = data;
  s.out = out.string();
  s.preset = "malaria_bn_se";
  s.image_size = 32;
  s.epochs = 10;
  s.batch_size = 8;
  s.lr = 2e-3;
  s.augment = "none";
  s.val_fraction = 0.25;
  s.test_fraction = 0.25;
  s.patience = 0;
  s.threads = 1;  // ctest -j2 runs two tests at once on 2 cores
  s.positive_class = "Parasitized";
  s.force = true;
  return s;
}

// train_smoke with its two class folders swapped: a teacher trained on it is confidently wrong.
fs::path swapped_data() {
  const fs::path dir = fs::temp_directory_path() / "cellcam_distill_swapped";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_directory_symlink(fs::absolute(kSmoke) / "Uninfected", dir / "Parasitized");
  fs::create_directory_symlink(fs::absolute(kSmoke) / "Parasitized", dir / "Uninfected");
  return dir;
}

const fs::path& anti_teacher() {
  static const fs::path run = [] {
    const fs::path out = fs::temp_directory_path() / "cellcam_distill_anti_teacher";
    TrainSettings s = tiny_settings(swapped_data().string(), out);
    s.epochs = 16;  // a confident teacher: it must be wrong on most of the student's images
    s.lr = 3e-3;
    EXPECT_EQ(run_train(s), 0);
    return out;
  }();
  return run;
}

// A column of the last epoch's row of RUN/metrics.csv ("train_accuracy", "val_auc").
double last_epoch(const fs::path& run, const std::string& column) {
  std::ifstream in(run / "metrics.csv");
  std::string header, line, last;
  std::getline(in, header);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  std::vector<std::string> names, values;
  for (auto* v : {&names, &values}) {
    std::stringstream row(v == &names ? header : last);
    for (std::string cell; std::getline(row, cell, ',');) v->push_back(cell);
  }
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
    if (names[i] == column) return std::stod(values[i]);
  ADD_FAILURE() << "no " << column << " in " << (run / "metrics.csv");
  return -1;
}

PreprocessSpec rgb(int size, std::vector<float> mean, std::vector<float> std) {
  PreprocessSpec p;
  p.width = p.height = size;
  p.mean = std::move(mean);
  p.std = std::move(std);
  return p;
}

TEST(Distillation, TeacherMayDifferInSizeAndNormalisationOnly) {
  const PreprocessSpec student = rgb(64, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f});
  EXPECT_TRUE(teacher_input_compatible(student, rgb(96, {0.0f}, {1.0f})).ok());
  PreprocessSpec gray = student;
  gray.color = ColorMode::kGray;
  gray.mean = {0.5f};
  gray.std = {0.25f};
  Result<bool> r = teacher_input_compatible(student, gray);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("colour mode gray"), std::string::npos) << r.error().message;
  PreprocessSpec padded = student;
  padded.aspect = AspectMode::kPad;
  EXPECT_FALSE(teacher_input_compatible(student, padded).ok());
  PreprocessSpec stained = student;
  stained.stain.enabled = true;
  r = teacher_input_compatible(student, stained);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("stain"), std::string::npos) << r.error().message;
}

// The student's batch, renormalised for the teacher, equals the teacher's own normalisation of the same
// raw pixels; at another size it is resampled.
TEST(Distillation, BatchIsRenormalisedAndResampledForTheTeacher) {
  torch::manual_seed(3);
  const torch::Tensor raw = torch::rand({2, 3, 8, 8});  // (N,C,H,W) in [0,1]
  const PreprocessSpec student = rgb(8, {0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f});
  const PreprocessSpec teacher = rgb(8, {0.1f}, {0.5f});
  const torch::Tensor x = (raw - torch::tensor({0.5f, 0.4f, 0.3f}).view({1, 3, 1, 1})) / torch::tensor({0.2f, 0.25f, 0.3f}).view({1, 3, 1, 1});
  const double maxdiff = (to_teacher_input(x, student, teacher) - (raw - 0.1f) / 0.5f).abs().max().item<double>();
  std::printf("renormalised maxdiff %.3g\n", maxdiff);
  EXPECT_LT(maxdiff, 1e-5);
  EXPECT_LT((to_teacher_input(x, student, student) - x).abs().max().item<double>(), 1e-6);
  const torch::Tensor small = to_teacher_input(x, student, rgb(4, {0.1f}, {0.5f}));
  EXPECT_EQ(small.sizes(), (std::vector<std::int64_t>{2, 3, 4, 4}));
  // A constant image stays constant through the resampling.
  const torch::Tensor flat = to_teacher_input(torch::full({1, 3, 8, 8}, 0.7f), student, rgb(5, {0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}));
  EXPECT_LT((flat - 0.7f).abs().max().item<double>(), 1e-5);
}

// Zero when the student's softened probabilities are the teacher's; the gradient is T * (q - p), the
// closed form of d/dz T^2 KL(p || softmax(z / T)).
TEST(Distillation, LossAndGradientMatchTheClosedForm) {
  for (const bool binary : {true, false}) {
    for (const double temperature : {1.0, 3.0}) {
      torch::manual_seed(7);
      const torch::Tensor z = torch::randn({5, binary ? 1 : 4}).requires_grad_(true);  // (N,outputs)
      const torch::Tensor teacher_z = torch::randn({5, binary ? 1 : 4});
      const torch::Tensor p = binary ? torch::cat({1 - torch::sigmoid(teacher_z / temperature), torch::sigmoid(teacher_z / temperature)}, 1)
                                     : torch::softmax(teacher_z / temperature, 1);  // (N,K)
      const torch::Tensor losses = distillation_losses(z, p, temperature, binary);  // (N)
      EXPECT_EQ(losses.sizes(), (std::vector<std::int64_t>{5}));
      EXPECT_GT(losses.min().item<double>(), 0.0);
      losses.sum().backward();
      const torch::Tensor q = binary ? torch::sigmoid(z.detach() / temperature) : torch::softmax(z.detach() / temperature, 1);
      const torch::Tensor expected = (q - (binary ? p.select(1, 1).unsqueeze(1) : p)) * temperature;
      const double maxdiff = (z.grad() - expected).abs().max().item<double>();
      std::printf("binary %d T %.0f gradient maxdiff %.3g\n", binary, temperature, maxdiff);
      EXPECT_LT(maxdiff, 1e-5);
      const torch::Tensor same = distillation_losses(teacher_z, p, temperature, binary);
      EXPECT_LT(same.abs().max().item<double>(), 1e-5);
    }
  }
}

// The teacher's probabilities are its own network's, in the student's class order.
TEST(Distillation, TeacherProbabilitiesAreItsNetworksInTheStudentsClassOrder) {
  Result<LoadedRun> run = load_run(anti_teacher().string());
  ASSERT_TRUE(run.ok()) << run.error().message;
  const PreprocessSpec& pp = run.value().spec.preprocess;
  const std::vector<std::string> classes = run.value().spec.classes;
  Result<Teacher> teacher = Teacher::open(anti_teacher().string(), pp, classes, torch::Device(torch::kCPU));
  ASSERT_TRUE(teacher.ok()) << teacher.error().message;
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({4, 3, pp.height, pp.width});
  torch::Tensor own;
  {
    torch::NoGradGuard no_grad;
    own = torch::sigmoid(run.value().net->forward(x) / 2.0).squeeze(1);  // (N) P(classes[1])
  }
  const torch::Tensor p = teacher.value().probabilities(x, 2.0);  // (N,2)
  const double maxdiff = (p.select(1, 1) - own).abs().max().item<double>();
  std::printf("teacher vs its network maxdiff %.3g\n", maxdiff);
  EXPECT_LT(maxdiff, 1e-6);
  const std::vector<std::string> reversed{classes[1], classes[0]};
  Result<Teacher> swapped = Teacher::open(anti_teacher().string(), pp, reversed, torch::Device(torch::kCPU));
  ASSERT_TRUE(swapped.ok());
  EXPECT_LT((swapped.value().probabilities(x, 2.0).select(1, 0) - own).abs().max().item<double>(), 1e-6);
  Result<Teacher> other = Teacher::open(anti_teacher().string(), pp, {classes[0], "platelet"}, torch::Device(torch::kCPU));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("no class \"platelet\""), std::string::npos) << other.error().message;
  Result<Teacher> missing = Teacher::open("/nonexistent/run", pp, classes, torch::Device(torch::kCPU));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("--teacher /nonexistent/run"), std::string::npos) << missing.error().message;
}

// The shipped stacking ensemble as a teacher: its answer is the meta-model's, worked out here by hand from
// each member's network at its calibration temperature: P = sigmoid(b + sum_m w_m logit(P_m)).
TEST(Distillation, EnsembleTeacherAnswersAsItsStackingMetaModel) {
  const std::string folder = std::string(CELLCAM_TEST_DATA_DIR) + "/../../models/malaria-ensemble";
  Result<LoadedEnsemble> e = load_ensemble(folder);
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_EQ(e.value().method, "stacking");
  const PreprocessSpec& pp = e.value().members[0].spec.preprocess;
  Result<Teacher> teacher = Teacher::open(folder, pp, e.value().classes, torch::Device(torch::kCPU));
  ASSERT_TRUE(teacher.ok()) << teacher.error().message;
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({6, 3, pp.height, pp.width}) * 0.5;  // (N,C,H,W)
  torch::Tensor score = torch::full({6}, e.value().stacking.intercepts.at(0), torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    for (std::size_t m = 0; m < e.value().members.size(); ++m) {
      LoadedRun& member = e.value().members[m];
      const torch::Tensor pm = torch::sigmoid(member.net->forward(x).squeeze(1) / member.temperature).to(torch::kDouble).clamp(1e-6, 1 - 1e-6);
      score = score + e.value().stacking.weights.at(0).at(m) * (pm / (1 - pm)).log();
    }
  }
  const torch::Tensor p = teacher.value().probabilities(x, 1.0);  // (N,2)
  const double maxdiff = (p.select(1, 1).to(torch::kDouble) - torch::sigmoid(score)).abs().max().item<double>();
  std::printf("ensemble teacher vs stacking by hand maxdiff %.3g\n", maxdiff);
  EXPECT_LT(maxdiff, 1e-5);
  EXPECT_LT((p.sum(1) - 1).abs().max().item<double>(), 1e-5);
  // Softened at T = 3: less extreme, same side.
  const torch::Tensor soft = teacher.value().probabilities(x, 3.0).select(1, 1);
  EXPECT_TRUE(((soft - 0.5).abs() <= (p.select(1, 1) - 0.5).abs() + 1e-6).all().item<bool>());
  EXPECT_TRUE(((soft > 0.5) == (p.select(1, 1) > 0.5)).all().item<bool>());
}

// The student learns from the teacher: taught only by a teacher trained on swapped labels, it gets its
// training images wrong and ranks validation backwards; taught only by the labels, right. config.json
// keeps the teacher for --resume.
TEST(Distillation, StudentLearnsTheTeachersDecisions) {
  const fs::path root = fs::temp_directory_path() / "cellcam_distill_students";
  const int student_epochs = 12;
  TrainSettings taught = tiny_settings(kSmoke, root / "taught");
  taught.teacher = anti_teacher().string();
  taught.distill_weight = 1.0;
  taught.distill_temperature = 1.0;
  taught.epochs = student_epochs;
  taught.lr = 3e-3;
  ASSERT_EQ(run_train(taught), 0);
  TrainSettings labelled = tiny_settings(kSmoke, root / "labelled");
  labelled.teacher = anti_teacher().string();
  labelled.distill_weight = 0.0;
  labelled.epochs = student_epochs;
  labelled.lr = 3e-3;
  ASSERT_EQ(run_train(labelled), 0);
  // Against the true labels: the anti-teacher's own validation AUC is about 0.2.
  const double taught_auc = last_epoch(root / "taught", "val_auc"), labelled_auc = last_epoch(root / "labelled", "val_auc");
  const double taught_accuracy = last_epoch(root / "taught", "train_accuracy");
  const double labelled_accuracy = last_epoch(root / "labelled", "train_accuracy");
  std::printf("taught by the anti-teacher: val AUC %.3f, training accuracy %.3f; by the labels: %.3f, %.3f\n", taught_auc,
              taught_accuracy, labelled_auc, labelled_accuracy);
  EXPECT_LT(taught_accuracy, 0.4);  // measured: 0.150
  EXPECT_GT(labelled_accuracy, 0.6);  // 0.800
  EXPECT_LT(taught_auc, labelled_auc);  // 0.370 against 0.730
  std::ifstream config(root / "taught" / "config.json");
  const nlohmann::json j = nlohmann::json::parse(config);
  EXPECT_EQ(j["settings"]["teacher"], anti_teacher().string());
  EXPECT_EQ(j["settings"]["distill_weight"], 1.0);
}

}  // namespace
