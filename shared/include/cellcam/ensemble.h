// ensemble.h — several models' outputs on the same images made into one: soft voting or the stacking
// meta-model (model_card.h), how much the members disagree, and the ensemble's Grad-CAM map. The page's
// wasm Model and `cellcam predict ENSEMBLE` call these; the trainer's `cellcam ensemble` fits the weights.
//
// Numbers: sums in double in member order, results rounded to float once, so the native and the wasm
// builds give the same bits.
#pragma once

#include <vector>

#include "cellcam/error.h"
#include "cellcam/model_card.h"

namespace cellcam {

// member_probs: M pointers to (n,K) -> (n,K). Soft voting: the weighted mean (weights normalised to sum 1;
// absent or mismatched weights count equally). Stacking: the logistic meta-model of the card.
Result<std::vector<float>> combine_members(const std::vector<const float*>& member_probs, int n, int K,
                                           HeadKind head, const EnsembleInfo& ensemble);

// Weights normalised to sum 1 (equal when `weights` is empty or not M long, or sums to <= 0).
std::vector<double> normalised_weights(const std::vector<double>& weights, int M);

// The weighted mean total-variation distance of each member's probabilities from their weighted mean:
// 0 when they agree, at most 1. member_probs: M pointers to (n,K) -> (n).
std::vector<double> member_disagreement(const std::vector<const float*>& member_probs, int n, int K,
                                        const std::vector<double>& weights);

// One image's member maps -> the ensemble's. Each member's map of each class is clipped at 0 and scaled to
// a maximum of 1 (members' raw Grad-CAM scales differ by orders of magnitude), resampled bilinearly
// (align_corners=False, as cam.h) onto the finest member grid, and averaged with the soft-voting weights.
struct CamStack {
  std::vector<float> data;  // (K,h,w)
  int width = 0;
  int height = 0;
};
Result<CamStack> combine_member_cams(const std::vector<CamStack>& members, int K, const std::vector<double>& weights);

// ---- a model's raw outputs on a batch -> one answer per image (what the page's Model.combine and
// `cellcam predict` both call): the TTA views averaged (views.h), then the members combined.

struct MemberOutput {
  std::vector<float> probs;  // (n*V,K): image 0's V views first
  std::vector<float> cams;   // (n*V,K,h,w), or empty
  int cam_width = 0;
  int cam_height = 0;
  std::vector<float> ood;    // (n*V): the "ood" output (ood.h), or empty
};
struct CombinedOutput {
  std::vector<float> probs;               // (n,K)
  std::vector<float> cams;                // (n,K,h,w), empty unless every member gave maps
  int cam_width = 0;
  int cam_height = 0;
  std::vector<double> disagreement;       // (n): the members' (an ensemble), else empty
  std::vector<double> view_disagreement;  // (n): the views' (one model with TTA), else empty
  std::vector<double> ood;                // (n): the out-of-distribution score (ood.h: views averaged; an
                                          // ensemble's, the weighted mean of score / member threshold), or empty
};
// members: one output per ONNX file of the card (card.onnx_files() order); V = view_count of the card's
// input when tta, else 1.
Result<CombinedOutput> combine_outputs(const ModelCard& card, const std::vector<MemberOutput>& members, int n, bool tta);

// Bilinear sample of map (h,w) (starting at `map`) at continuous map coordinates (u, v), edge-clamped:
// torch align_corners=False. Shared by the map combiners here and in tiling.h.
double sample_bilinear(const float* map, int w, int h, double u, double v);

}  // namespace cellcam
