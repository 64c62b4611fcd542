// metrics_json.cpp — see metrics_json.h.
#include "metrics_json.h"

#include <cmath>

namespace cellcam::train {
using nlohmann::json;

json metrics_json(const Metrics& m, const std::vector<std::string>& classes, double loss) {
  json per_class = json::array();
  for (std::size_t c = 0; c < m.per_class.size(); ++c) {
    const ClassMetrics& k = m.per_class[c];
    per_class.push_back({{"class", classes[c]}, {"precision", k.precision}, {"recall", k.recall},
                         {"specificity", k.specificity}, {"f1", k.f1}, {"support", k.support},
                         {"roc_auc", c < m.per_class_roc_auc.size() ? m.per_class_roc_auc[c] : NAN}});
  }
  auto summary = [](const ClassMetrics& k) {
    return json{{"precision", k.precision}, {"recall", k.recall}, {"specificity", k.specificity}, {"f1", k.f1}};
  };
  return json{{"loss", loss}, {"accuracy", m.accuracy}, {"roc_auc", m.roc_auc}, {"pr_auc", m.pr_auc},
              {"macro", summary(m.macro)}, {"weighted", summary(m.weighted)}, {"per_class", per_class},
              {"confusion", {{"classes", classes}, {"counts", m.confusion.counts}}}};
}

}  // namespace cellcam::train
