// decision.h — from a model's class probabilities to what a person is told: the class, the score the
// review band is on, and whether to refer the image for review. The one copy of these rules: the page
// (through the wasm Model) and `cellcam predict`/`eval` both call decide().
//
//   binary head:     predicted = classes[1] iff probs[1] >= threshold (classes[1] is the positive class);
//                    score = probs[1]
//   multiclass head: predicted = argmax (the first of equal maxima); score = the top-1 probability
//   review:          an ensemble whose card says "review": {"score": "disagreement"}: disagreement >= cutoff;
//                    otherwise score in the closed band [lo, hi] — the card's "review_band", else the
//                    default: binary [threshold - 0.15, threshold + 0.15] clipped to [0, 1], multiclass
//                    [0, 0.6] (top-1 probability at most 0.6).
//   out of distribution: when the card has an "ood" block (ood.h) and the image's score exceeds its
//                    threshold, the image is flagged "not the kind of image this model was trained on"
//                    (Decision::ood) and referred for review whatever its probabilities say.
#pragma once

#include <string>

#include "cellcam/model_card.h"

namespace cellcam {

constexpr double kDefaultBinaryHalfBand = 0.15;
constexpr double kDefaultMulticlassTop1 = 0.6;
constexpr double kNoOodScore = -1.0;  // no score: any negative value (scores are squared distances, >= 0)

struct ReviewBand {
  double lo = 0.0;
  double hi = 1.0;
  std::string source;  // "model.json", or the default's rule in words
};

// The card's band, or the default above.
ReviewBand review_band(const ModelCard& card);

struct DecisionRule {
  bool binary = true;
  int classes = 2;
  double threshold = 0.5;
  ReviewBand band;
  bool review_on_disagreement = false;
  double disagreement_cutoff = 0.0;
  bool has_ood = false;        // the card's "ood" block
  double ood_threshold = 0.0;  // flagged when the score is above it
};
DecisionRule decision_rule(const ModelCard& card);

struct Decision {
  int index = 0;
  double score = 0.0;
  bool review = false;  // refer for review (also when ood)
  bool ood = false;     // not the kind of image this model was trained on
};

// probs: `rule.classes` values. disagreement: the members' (ensemble.h), or a negative value for none.
// ood_score: the image's out-of-distribution score (ood.h), or a negative value for none (no such output).
Decision decide(const double* probs, const DecisionRule& rule, double disagreement = -1.0, double ood_score = kNoOodScore);
Decision decide(const float* probs, const DecisionRule& rule, double disagreement = -1.0,
                double ood_score = kNoOodScore);  // same, widened

// The rules in words, for the model card the page shows and for `cellcam predict`'s summary.
struct RuleText {
  std::string decision;
  std::string review;
  std::string tiles;
  std::string ood;  // empty when the model has no out-of-distribution score
};
RuleText describe_rules(const ModelCard& card);

}  // namespace cellcam
