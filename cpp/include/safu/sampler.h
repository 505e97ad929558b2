// cpp/include/safu/sampler.h - the sampler of docs/lm_model.md ("Sampling"): splitmix64 and
// greedy / temperature / top-k picking, identical to models/sampler.py.
//
//   safu::SplitMix64 rng(42);
//   int32_t t = safu::sample_pick(logp, N, &rng, 0.8, 40);    // or sample_greedy(logp, N)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace safu {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1), 2^-53 steps
  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

// The candidate with the largest logp (lowest id on ties); ids 0..2 (<pad>, <sod>, <frg>) never.
int32_t sample_greedy(const float* logp, size_t n);
// One draw from `rng` (see docs/lm_model.md). Throws ShapeError if temperature <= 0, or if there
// are no candidates (n <= 3).
int32_t sample_pick(const float* logp, size_t n, SplitMix64& rng, double temperature, size_t top_k);

}  // namespace safu
