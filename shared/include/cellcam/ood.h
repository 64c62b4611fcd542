// ood.h — "is this the kind of image the model was trained on?": the out-of-distribution score that
// model.onnx computes (its "ood" output), fitted at export, and the threshold that flags an image.
//
// Score: the Mahalanobis distance of an image's feature vector f (a top-level layer's output, the
// model card's "ood.layer") to the nearest class centre under one covariance shared by the classes
// (Lee et al., 2018), fitted on the training split:
//     score(f) = min_c || f W - m_c ||^2,   W = L^-T with L L^T = Sigma + lambda I,  m_c = mu_c W
// so that || (f - mu_c) W ||^2 = (f - mu_c)^T (Sigma + lambda I)^-1 (f - mu_c). The graph holds W and the
// m_c as initialisers ("ood.whiten" (F,F), "ood.centres" (C,F)); `cellcam predict` reads them from the
// same file and computes the same formula here (in double; the graph in float32).
// Threshold: the smallest score at or above which `pass_rate` of the validation images lie (flagged when
// score > threshold).
// Views and tiles: the mean over the TTA views; a tiled image takes the score of the tile whose
// probabilities it reports (binary: the most positive tile), the mean over tiles for a multiclass model.
// An ensemble: the weighted mean over members of score / that member's threshold (ensemble.h).
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam {

struct OodStats {
  int features = 0;
  int classes = 0;
  std::vector<float> whiten;   // (F,F) row-major: z = f W
  std::vector<float> centres;  // (C,F): the class means, whitened
};

// score of one feature vector (F values) under `stats`.
double mahalanobis_score(const float* f, const OodStats& stats);

// Fits the class means and the shared covariance of `features` ((n,F) row-major, labels in [0,C)),
// with lambda = shrinkage * (trace(Sigma) / F) added to the diagonal (dead units have zero variance).
// Errors: fewer than two samples, a class without samples, a covariance that is not positive definite.
Result<OodStats> fit_mahalanobis(const std::vector<float>& features, const std::vector<int>& labels, int F, int C,
                                 double shrinkage = 1e-3);

// The threshold under which `pass_rate` of `scores` pass: the ceil(pass_rate * n)-th smallest score.
Result<double> ood_threshold(std::vector<double> scores, double pass_rate);

}  // namespace cellcam
