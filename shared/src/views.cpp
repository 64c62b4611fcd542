// views.cpp — the dihedral views of test-time augmentation and their inverse on maps; see views.h.
// Only moves values (no arithmetic) except the two means, which sum in a fixed order.
#include "cellcam/views.h"

#include <algorithm>

#include "cellcam/ensemble.h"

namespace cellcam {

int view_count(int height, int width) { return height == width ? 8 : 4; }

PixelIndex view_source(int v, int i, int j, int height, int width) {
  int y = i, x = j;
  if (height == width) {
    const int n = height;
    for (int t = 0; t < (v & 3); ++t) {  // undo one quarter turn: out[i][j] = in[j][n-1-i]
      const int yy = x;
      x = n - 1 - y;
      y = yy;
    }
    if (v >= 4) x = width - 1 - x;
  } else {
    if (v & 1) x = width - 1 - x;
    if (v & 2) y = height - 1 - y;
  }
  return {y, x};
}

std::vector<float> make_view(const float* tensors, int n, int channels, int height, int width, int v) {
  const std::size_t plane = static_cast<std::size_t>(height) * width, size = channels * plane;
  std::vector<float> out(static_cast<std::size_t>(n) * size);
  for (int b = 0; b < n; ++b)
    for (int i = 0; i < height; ++i)
      for (int j = 0; j < width; ++j) {
        const PixelIndex s = view_source(v, i, j, height, width);
        for (int c = 0; c < channels; ++c)
          out[b * size + c * plane + i * width + j] = tensors[b * size + c * plane + s.y * width + s.x];
      }
  return out;
}

std::vector<float> undo_view(const float* maps, int n, int K, int h, int w, int v) {
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  std::vector<float> out(static_cast<std::size_t>(n) * K * plane);
  for (std::size_t m = 0; m < static_cast<std::size_t>(n) * K; ++m)
    for (int a = 0; a < h; ++a)
      for (int b = 0; b < w; ++b) {
        const PixelIndex s = view_source(v, a, b, h, w);
        out[m * plane + s.y * w + s.x] = maps[m * plane + a * w + b];
      }
  return out;
}

std::vector<float> make_views(const float* tensors, int n, int channels, int height, int width) {
  const int V = view_count(height, width);
  const std::size_t size = static_cast<std::size_t>(channels) * height * width;
  std::vector<float> out(static_cast<std::size_t>(n) * V * size);
  for (int b = 0; b < n; ++b)
    for (int v = 0; v < V; ++v) {
      const std::vector<float> view = make_view(tensors + b * size, 1, channels, height, width, v);
      std::copy(view.begin(), view.end(), out.begin() + (static_cast<std::size_t>(b) * V + v) * size);
    }
  return out;
}

std::vector<float> average_view_probs(const float* probs, int n, int V, int K) {
  std::vector<float> out(static_cast<std::size_t>(n) * K);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) {
      float s = 0.0f;
      for (int v = 0; v < V; ++v) s += probs[(i * V + v) * K + k];
      out[i * K + k] = s / static_cast<float>(V);
    }
  return out;
}

std::vector<float> average_view_cams(const float* cams, int n, int V, int K, int h, int w) {
  const std::size_t block = static_cast<std::size_t>(K) * h * w;  // one image's maps in one view
  std::vector<float> out(static_cast<std::size_t>(n) * block, 0.0f);
  for (int i = 0; i < n; ++i)
    for (int v = 0; v < V; ++v) {
      const std::vector<float> back = undo_view(cams + (static_cast<std::size_t>(i) * V + v) * block, 1, K, h, w, v);
      for (std::size_t j = 0; j < block; ++j) out[i * block + j] += back[j] / static_cast<float>(V);
    }
  return out;
}

std::vector<double> view_disagreement(const float* probs, int n, int V, int K) {
  std::vector<std::vector<float>> per_view(V, std::vector<float>(static_cast<std::size_t>(n) * K));
  for (int i = 0; i < n; ++i)
    for (int v = 0; v < V; ++v)
      for (int k = 0; k < K; ++k) per_view[v][i * K + k] = probs[(i * V + v) * K + k];
  std::vector<const float*> members;
  for (const std::vector<float>& p : per_view) members.push_back(p.data());
  return member_disagreement(members, n, K, {});
}

}  // namespace cellcam
