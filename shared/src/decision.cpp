// decision.cpp — probabilities -> class, score, refer-for-review; see decision.h for the rules.
#include "cellcam/decision.h"

#include <algorithm>
#include <cstdio>

namespace cellcam {
namespace {

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

ReviewBand review_band(const ModelCard& card) {
  if (card.has_review_band) return {card.review_lo, card.review_hi, "model.json"};
  if (card.binary())
    return {std::max(0.0, card.threshold - kDefaultBinaryHalfBand), std::min(1.0, card.threshold + kDefaultBinaryHalfBand),
            "default: threshold \u00b1 " + std::string("0.15")};
  return {0.0, kDefaultMulticlassTop1, "default: top-1 probability \u2264 0.6"};
}

DecisionRule decision_rule(const ModelCard& card) {
  DecisionRule rule;
  rule.binary = card.binary();
  rule.classes = card.class_count();
  rule.threshold = card.threshold;
  rule.band = review_band(card);
  rule.review_on_disagreement = card.is_ensemble && card.ensemble.review_on_disagreement;
  rule.disagreement_cutoff = card.ensemble.disagreement_cutoff;
  rule.has_ood = card.ood.present;
  rule.ood_threshold = card.ood.threshold;
  return rule;
}

namespace {

// One body for float and double probabilities (float -> double is exact: the same decision).
template <typename P>
Decision decide_any(const P* probs, const DecisionRule& rule, double disagreement, double ood_score) {
  Decision d;
  if (rule.binary) {
    d.score = probs[1];
    d.index = d.score >= rule.threshold ? 1 : 0;
  } else {
    for (int k = 1; k < rule.classes; ++k)
      if (probs[k] > probs[d.index]) d.index = k;
    d.score = probs[d.index];
  }
  d.review = rule.review_on_disagreement && disagreement >= 0.0
                 ? disagreement >= rule.disagreement_cutoff
                 : d.score >= rule.band.lo && d.score <= rule.band.hi;
  d.ood = rule.has_ood && ood_score >= 0.0 && ood_score > rule.ood_threshold;
  d.review = d.review || d.ood;
  return d;
}

}  // namespace

Decision decide(const float* probs, const DecisionRule& rule, double disagreement, double ood_score) {
  return decide_any(probs, rule, disagreement, ood_score);
}
Decision decide(const double* probs, const DecisionRule& rule, double disagreement, double ood_score) {
  return decide_any(probs, rule, disagreement, ood_score);
}

RuleText describe_rules(const ModelCard& card) {
  const ReviewBand band = review_band(card);
  const std::string lo = fixed3(band.lo), hi = fixed3(band.hi);
  RuleText t;
  if (card.binary()) {
    const std::string p = "P(" + card.display_names[1] + ")";
    t.decision = card.display_names[1] + " when " + p + " \u2265 " + fixed3(card.threshold) + " (" + card.threshold_source +
                 "), else " + card.display_names[0];
    t.review = "refer for review when " + p + " is in [" + lo + ", " + hi + "] (" + band.source + ")";
    t.tiles = "large images: " + p + " of the image = the highest tile\u2019s";
  } else {
    t.decision = "the most probable class";
    t.review = "refer for review when the top probability is in [" + lo + ", " + hi + "] (" + band.source + ")";
    t.tiles = "large images: the mean of the tiles\u2019 probabilities";
  }
  if (card.is_ensemble && card.ensemble.review_on_disagreement)
    t.review = "refer for review when the members disagree by at least " + fixed3(card.ensemble.disagreement_cutoff);
  if (card.ood.present) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * card.ood.pass_rate);
    t.ood = card.is_ensemble
                ? "not the kind of image this model was trained on (and referred) when the members' out-of-distribution scores, "
                  "each over its own threshold, average above " + fixed3(card.ood.threshold)
                : "not the kind of image this model was trained on (and referred) when its out-of-distribution score (" +
                      card.ood.score + " distance of the " + card.ood.layer + " features to the training classes) exceeds " +
                      fixed3(card.ood.threshold) + ", which " + pct + " of the validation images stay under";
  }
  return t;
}

}  // namespace cellcam
