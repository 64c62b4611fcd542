// sampler.h — which configuration to try next, and whether a running trial should stop early.
//
//   random  every parameter drawn uniformly in its unit space (log scale for log_uniform).
//   bayes   the tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011), univariate: the finished
//           trials split into the best gamma share ("good") and the rest; each parameter gets a density
//           l(x) over the good values and g(x) over the others (Gaussian kernels truncated to [0,1] plus a
//           flat prior; counts plus one for a choice); candidates are drawn from l and the one with the
//           largest l(x)/g(x) — the expected-improvement maximiser under TPE's model — is tried. The first
//           `startup` trials are random. Chosen over a Gaussian process: no matrix algebra, choices and
//           integers handled natively, and robust with the 20-100 trials this machine can afford.
//           Every 6th trial after the startup ones is random (see sampler.cpp for why and how chosen).
// Both are deterministic: trial k's proposal depends on (seed, k) and the trials before it, so a
// resumed search proposes what the uninterrupted one would have.
//
// Median stopping (Golovin et al., 2017, "Google Vizier"): after epoch e (e >= min_epochs) a trial whose
// best value so far is worse than the median of the finished trials' best values at epoch e stops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "search_space.h"
#include "trial.h"

namespace cellcam::tune {

enum class Method { kRandom, kBayes };

struct SamplerOptions {
  Method method = Method::kBayes;
  std::uint64_t seed = 42;
  int startup = 5;        // random trials before TPE takes over
  int candidates = 24;    // draws from l(x) scored per proposal
  double gamma = 0.1;     // share of finished trials that count as good
  bool maximize = true;   // false for a loss
};

// Values for every parameter of the space (fixed ones included) for trial `number` (1-based).
nlohmann::json propose(const SearchSpace& space, const std::vector<Trial>& history, int number, const SamplerOptions& o);

struct MedianStopping {
  int min_epochs = 2;     // never stop a trial before this many epochs
  int min_trials = 3;     // finished trials needed at that epoch before any stopping
};
// `curve` = the running trial's objective after each epoch so far.
bool should_stop(const std::vector<double>& curve, const std::vector<Trial>& history, bool maximize,
                 const MedianStopping& rule);

}  // namespace cellcam::tune
