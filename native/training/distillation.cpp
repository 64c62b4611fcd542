// distillation.cpp — see distillation.h.
#include "distillation.h"

#include <algorithm>
#include <stdexcept>

#include "cellcam/ensemble.h"
#include "predictions.h"

namespace cellcam::train {
namespace {

// The preprocessing with what the teacher may differ in (size, resize filter, normalisation) set to
// fixed values: two specs that agree here see the same image content.
std::string content_key(PreprocessSpec p) {
  p.width = p.height = 1;
  p.filter = ResizeFilter::kTriangle;
  p.mean.assign(static_cast<std::size_t>(p.channels()), 0.0f);
  p.std.assign(static_cast<std::size_t>(p.channels()), 1.0f);
  return preprocess_spec_to_json(p);
}

// Per-channel value, whether the spec gives one for all channels or one each.
float channel_value(const std::vector<float>& v, std::size_t c) { return v.size() == 1 ? v[0] : v[c]; }

torch::Tensor per_channel(const std::vector<float>& v, std::int64_t channels, const torch::Tensor& like) {
  std::vector<float> values(static_cast<std::size_t>(channels));
  for (std::size_t c = 0; c < values.size(); ++c) values[c] = channel_value(v, c);
  return torch::tensor(values).view({1, channels, 1, 1}).to(like.device());
}

// Student class k -> the member's index of the same class, or an error naming a class one side lacks.
Result<std::vector<std::int64_t>> class_map(const std::vector<std::string>& student, const std::vector<std::string>& teacher,
                                            const std::string& where) {
  std::vector<std::int64_t> map;
  for (const std::string& c : student) {
    const auto at = std::find(teacher.begin(), teacher.end(), c);
    if (at == teacher.end()) return make_error(ErrorCode::kInvalidArgument, "--teacher " + where + " has no class \"" + c + "\"");
    map.push_back(at - teacher.begin());
  }
  if (student.size() != teacher.size())
    return make_error(ErrorCode::kInvalidArgument, "--teacher " + where + " has " + std::to_string(teacher.size()) +
                                                       " classes, the data " + std::to_string(student.size()));
  return map;
}

}  // namespace

Result<bool> teacher_input_compatible(const PreprocessSpec& student, const PreprocessSpec& teacher) {
  if (student.color != teacher.color)
    return make_error(ErrorCode::kInvalidArgument, std::string("--teacher sees colour mode ") + color_mode_name(teacher.color) +
                                                       ", the student " + color_mode_name(student.color));
  if (student.aspect != teacher.aspect)
    return make_error(ErrorCode::kInvalidArgument, std::string("--teacher fits images by ") + aspect_mode_name(teacher.aspect) +
                                                       ", the student by " + aspect_mode_name(student.aspect) + " (--aspect)");
  if (content_key(student) != content_key(teacher))
    return make_error(ErrorCode::kInvalidArgument,
                      "--teacher's preprocessing differs from the student's in more than size and normalisation "
                      "(blur, stain normalisation or the pad value): train the student with the teacher's");
  return true;
}

torch::Tensor to_teacher_input(const torch::Tensor& x, const PreprocessSpec& student, const PreprocessSpec& teacher) {
  const std::int64_t channels = x.size(1);
  torch::Tensor raw = x * per_channel(student.std, channels, x) + per_channel(student.mean, channels, x);
  torch::Tensor out = (raw - per_channel(teacher.mean, channels, x)) / per_channel(teacher.std, channels, x);
  if (out.size(2) == teacher.height && out.size(3) == teacher.width) return out;
  namespace F = torch::nn::functional;
  return F::interpolate(out, F::InterpolateFuncOptions()
                                 .size(std::vector<std::int64_t>{teacher.height, teacher.width})
                                 .mode(torch::kBilinear)
                                 .align_corners(false)
                                 .antialias(true));
}

Result<Teacher> Teacher::open(const std::string& path, const PreprocessSpec& student,
                              const std::vector<std::string>& student_classes, torch::Device device) {
  Teacher t;
  t.student_ = student;
  std::vector<std::string> classes;
  if (is_ensemble_folder(path)) {
    Result<LoadedEnsemble> e = load_ensemble(path);
    if (!e) return make_error(e.error().code, "--teacher " + path + ": " + e.error().message);
    t.members_ = std::move(e.value().members);
    t.ensemble_ = e.value().card;
    classes = e.value().classes;
    t.description_ = "ensemble " + path + " (" + std::to_string(t.members_.size()) + " members, " + e.value().method + ")";
  } else {
    Result<LoadedRun> r = load_run(path);
    if (!r) return make_error(r.error().code, "--teacher " + path + ": " + r.error().message);
    classes = r.value().spec.classes;
    t.members_.push_back(r.take());
    t.description_ = "model " + path;
  }
  Result<std::vector<std::int64_t>> map = class_map(student_classes, classes, path);
  if (!map) return map.error();
  t.to_student_ = map.take();
  for (std::size_t i = 0; i < t.members_.size(); ++i) {
    Result<bool> fits = teacher_input_compatible(student, t.members_[i].spec.preprocess);
    const std::string where = t.members_.size() > 1 ? path + " member " + std::to_string(i + 1) : path;
    if (!fits) return make_error(fits.error().code, where + ": " + fits.error().message);
    t.members_[i].net->to(device);
    t.members_[i].net->eval();
    t.members_[i].device = device;
  }
  return t;
}

torch::Tensor Teacher::probabilities(const torch::Tensor& x, double temperature) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> member_probs;  // M x (N,K), the teacher's class order
  for (const LoadedRun& m : members_) {
    native::Network net = m.net;  // a shared handle: forward() is not const
    const torch::Tensor z = net->forward(to_teacher_input(x, student_, m.spec.preprocess));  // (N,outputs)
    member_probs.push_back(train::probabilities(z, m.spec.head == HeadKind::kBinary, m.temperature));
  }
  torch::Tensor p = member_probs[0];  // (N,K)
  if (ensemble_) {  // the shared combination works on host floats
    std::vector<const float*> pointers;
    for (torch::Tensor& m : member_probs) {
      m = m.to(torch::kCPU).contiguous();
      pointers.push_back(m.data_ptr<float>());
    }
    const int n = static_cast<int>(p.size(0)), k = static_cast<int>(p.size(1));
    Result<std::vector<float>> combined = combine_members(pointers, n, k, ensemble_->head, ensemble_->ensemble);
    if (!combined) throw std::runtime_error("--teacher: " + combined.error().message);  // shapes checked at open
    p = torch::tensor(combined.value()).view({n, k}).to(x.device());
  }
  if (temperature != 1.0) p = torch::softmax(p.clamp_min(1e-12).log() / temperature, 1);
  return p.index_select(1, torch::tensor(to_student_, torch::kLong).to(p.device()));
}

torch::Tensor distillation_losses(const torch::Tensor& student_logits, const torch::Tensor& teacher_probabilities,
                                  double temperature, bool binary) {
  const torch::Tensor z = student_logits / temperature;
  constexpr double kTiny = 1e-12;  // 0 log 0 = 0
  if (binary) {
    const torch::Tensor p = teacher_probabilities.select(1, 1).clamp(0.0, 1.0);  // (N)
    const torch::Tensor entropy = -(p * (p + kTiny).log() + (1 - p) * (1 - p + kTiny).log());
    const torch::Tensor cross = torch::binary_cross_entropy_with_logits(z.squeeze(1), p, {}, {}, torch::Reduction::None);
    return (cross - entropy) * (temperature * temperature);
  }
  const torch::Tensor& p = teacher_probabilities;
  const torch::Tensor kl = (p * ((p + kTiny).log() - torch::log_softmax(z, 1))).sum(1);
  return kl * (temperature * temperature);
}

}  // namespace cellcam::train
