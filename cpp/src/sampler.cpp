// cpp/src/sampler.cpp - next-token picking in double precision, ascending id order (docs/lm_model.md).
#include "safu/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "safu/errors.h"

namespace safu {
namespace {
constexpr size_t kFirstCandidate = 3;  // <pad>, <sod>, <frg> are never targets
}

int32_t sample_greedy(const float* logp, size_t n) {
  if (n <= kFirstCandidate) throw ShapeError("sample_greedy: no candidate ids (vocabulary of " + std::to_string(n) + ")");
  size_t best = kFirstCandidate;
  for (size_t t = kFirstCandidate + 1; t < n; ++t)
    if (logp[t] > logp[best]) best = t;
  return int32_t(best);
}

int32_t sample_pick(const float* logp, size_t n, SplitMix64& rng, double temperature, size_t top_k) {
  if (n <= kFirstCandidate) throw ShapeError("sample_pick: no candidate ids (vocabulary of " + std::to_string(n) + ")");
  if (!(temperature > 0.0)) throw ShapeError("sample_pick: temperature must be > 0, got " + std::to_string(temperature));
  std::vector<int32_t> ids(n - kFirstCandidate);
  std::iota(ids.begin(), ids.end(), int32_t(kFirstCandidate));
  std::vector<double> x(n);
  for (size_t t = kFirstCandidate; t < n; ++t) x[t] = double(logp[t]) / temperature;
  if (top_k > 0 && top_k < ids.size()) {
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return x[size_t(a)] != x[size_t(b)] ? x[size_t(a)] > x[size_t(b)] : a < b; });
    ids.resize(top_k);
    std::sort(ids.begin(), ids.end());
  }
  double m = x[size_t(ids[0])];
  for (int32_t t : ids) m = std::max(m, x[size_t(t)]);
  double total = 0.0;
  for (int32_t t : ids) total += std::exp(x[size_t(t)] - m);
  double u = rng.uniform() * total;
  double c = 0.0;
  for (int32_t t : ids) {
    c += std::exp(x[size_t(t)] - m);
    if (c > u) return t;
  }
  return ids.back();
}

}  // namespace safu
