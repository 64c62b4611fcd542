// views.h — test-time augmentation: the 8 dihedral views of a square input (4 rotations of the image and
// of its mirror), or the 4 flips of a non-square one; the mean of their probabilities; their Grad-CAM maps
// carried back to the original orientation; and how much the views disagree.
//
// The order (the trainer's tta_probabilities uses the same):
//   square:     v = 4 f + k  -> flip left-right when f = 1, then rotate by k quarter turns
//               (torch.rot90(x, k, {H, W}): one turn makes out[i][j] = in[j][W-1-i])
//   non-square: v = 0 identity, 1 flip left-right, 2 flip up-down, 3 both
#pragma once

#include <vector>

namespace cellcam {

int view_count(int height, int width);  // 8 when square, else 4

// Where view v's pixel (i, j) comes from in the original image of height x width: {y, x}.
struct PixelIndex {
  int y = 0;
  int x = 0;
};
PixelIndex view_source(int v, int i, int j, int height, int width);

// tensors: n images (n,C,H,W) -> (n,V,C,H,W): image 0's V views first.
std::vector<float> make_views(const float* tensors, int n, int channels, int height, int width);

// One view v of n images (n,C,H,W) -> (n,C,H,W); and maps (n,K,h,w) seen in view v's frame carried back
// to the original orientation (the inverse of view v at the maps' resolution).
std::vector<float> make_view(const float* tensors, int n, int channels, int height, int width, int v);
std::vector<float> undo_view(const float* maps, int n, int K, int h, int w, int v);

// probs: (n*V,K), image 0's views first -> (n,K): the mean over views, summed in view order in float
// (as the trainer sums its tensors).
std::vector<float> average_view_probs(const float* probs, int n, int V, int K);

// cams: (n*V,K,h,w) maps of the views -> (n,K,h,w): each moved back to the original orientation (the
// inverse of its view, at the map's resolution), then averaged.
std::vector<float> average_view_cams(const float* cams, int n, int V, int K, int h, int w);

// The views as equally weighted members (ensemble.h member_disagreement). probs (n*V,K) -> (n).
std::vector<double> view_disagreement(const float* probs, int n, int V, int K);

}  // namespace cellcam
