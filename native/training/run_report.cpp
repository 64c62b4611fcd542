// run_report.cpp — see run_report.h.
#include "run_report.h"

#include <cstdio>
#include <cmath>
#include <sstream>

namespace cellcam::train {
using nlohmann::json;

namespace {

std::string num(const json& v) {
  if (!v.is_number() || !std::isfinite(v.get<double>())) return "n/a";  // a class absent from the part
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
  return buf;
}

}  // namespace

json row_to_json(const EpochRow& r) {
  return json{{"epoch", r.epoch}, {"lr", r.lr}, {"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy},
              {"val_loss", r.val_loss}, {"val_accuracy", r.val_accuracy}, {"val_auc", r.val_auc}, {"val_f1", r.val_f1},
              {"seconds", r.seconds}, {"images_per_second", r.images_per_second}, {"data_wait_share", r.data_wait_share},
              {"comm_share", r.comm_share}};
}
EpochRow row_from_json(const json& j) {
  EpochRow r;
  r.epoch = j.value("epoch", 0);
  r.lr = j.value("lr", 0.0);
  r.train_loss = j.value("train_loss", 0.0);
  r.train_accuracy = j.value("train_accuracy", 0.0);
  r.val_loss = j.value("val_loss", 0.0);
  r.val_accuracy = j.value("val_accuracy", 0.0);
  r.val_auc = j.value("val_auc", 0.0);
  r.val_f1 = j.value("val_f1", 0.0);
  r.seconds = j.value("seconds", 0.0);
  r.images_per_second = j.value("images_per_second", 0.0);
  r.data_wait_share = j.value("data_wait_share", 0.0);
  r.comm_share = j.value("comm_share", 0.0);
  return r;
}

std::string metrics_csv(const std::vector<EpochRow>& rows) {
  std::ostringstream out;
  out << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_auc,val_f1,seconds,images_per_second,data_wait_share,comm_share\n";
  for (const EpochRow& r : rows)
    out << r.epoch << ',' << r.lr << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.val_loss << ','
        << r.val_accuracy << ',' << r.val_auc << ',' << r.val_f1 << ',' << r.seconds << ',' << r.images_per_second << ','
        << r.data_wait_share << ',' << r.comm_share << '\n';
  return out.str();
}

double monitored(const EpochRow& r, const std::string& monitor) {
  if (monitor == "val_accuracy") return r.val_accuracy;
  if (monitor == "val_auc") return r.val_auc;
  if (monitor == "val_f1") return r.val_f1;
  return r.val_loss;
}
bool higher_is_better(const std::string& monitor) { return monitor != "val_loss"; }

// report.md: the numbers a reader looks for first, then the plots.
std::string report_markdown(const json& r, const TrainSettings& s) {
  std::ostringstream md;
  md << "# Training report: " << r.value("model", std::string("model")) << "\n\n";
  md << "Data: `" << s.data << "`; split by " << (r.value("grouped", false) ? "group (patient)" : "image, stratified")
     << ": " << r["split"]["train"] << " train / " << r["split"]["val"] << " validation / " << r["split"]["test"]
     << " test images; " << r.value("skipped", 0) << " skipped (see skipped.csv).\n\n";
  md << "Model: preset `" << s.preset << "`, input " << s.image_size << "x" << s.image_size << " " << s.color << ", "
     << r.value("parameters", 0LL) << " parameters. Training: " << s.optimizer << ", lr " << s.lr << " (" << s.schedule
     << "), batch " << s.batch_size << ", augmentation `" << s.augment << "`, best epoch " << r["best_epoch"] << " of "
     << r["epochs_run"] << " by " << s.monitor << ".\n\n";
  if (r.contains("warnings") && !r["warnings"].empty()) {
    md << "**Warnings:**\n\n";
    for (const json& w : r["warnings"]) md << "- " << w.get<std::string>() << "\n";
    md << "\n";
  }
  if (r.contains("test")) {
    const json& t = r["test"];
    md << "## Test split (held out)\n\n| metric | value |\n|---|---|\n";
    md << "| accuracy | " << percent(t["accuracy"].get<double>()) << " |\n";
    md << "| ROC-AUC | " << num(t["roc_auc"]) << " |\n| PR-AUC | " << num(t["pr_auc"]) << " |\n";
    md << "| macro F1 | " << num(t["macro"]["f1"]) << " |\n| loss | " << num(t["loss"]) << " |\n\n";
    md << "| class | precision | recall (sensitivity) | specificity | F1 | support |\n|---|---|---|---|---|---|\n";
    for (const json& c : t["per_class"])
      md << "| " << c["class"].get<std::string>() << " | " << num(c["precision"]) << " | " << num(c["recall"]) << " | "
         << num(c["specificity"]) << " | " << num(c["f1"]) << " | " << c["support"] << " |\n";
    md << "\n";
  }
  if (r.contains("threshold"))
    md << "Operating threshold " << num(r["threshold"]["value"]) << " on P(" << r["classes"][1].get<std::string>() << ") ("
       << r["threshold"]["chosen_by"].get<std::string>() << "; validation sensitivity "
       << num(r["threshold"]["validation_sensitivity"]) << ", specificity " << num(r["threshold"]["validation_specificity"]) << ").\n\n";
  md << "![training curves](training_curves.png)\n\n![ROC](roc.png)\n\n![confusion matrix](confusion_test.png)\n";
  return md.str();
}

}  // namespace cellcam::train
