// cpp/src/softmax.h - the numerically stable softmax pieces every forward pass uses (float32).
#pragma once

#include <cmath>
#include <cstddef>

namespace safu {

// out[i] = -log_softmax(z)[i] = m + log(sum exp(z - m)) - z[i]; returns sum of out.
inline float neg_log_softmax(const float* z, size_t n, float* out) {
  float m = z[0];
  for (size_t i = 1; i < n; ++i) m = z[i] > m ? z[i] : m;
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += std::exp(z[i] - m);
  float lse = m + std::log(s);
  float total = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    out[i] = lse - z[i];
    total += out[i];
  }
  return total;
}

// In place: z <- softmax(z) = exp(z - m) / sum exp(z - m). One exp per entry (exp dominated the
// profile); equal to the reference's exp(log_softmax(z)) within float32 rounding.
inline void softmax_inplace(float* z, size_t n) {
  float m = z[0];
  for (size_t i = 1; i < n; ++i) m = z[i] > m ? z[i] : m;
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += (z[i] = std::exp(z[i] - m));
  float inv = 1.0f / s;
  for (size_t i = 0; i < n; ++i) z[i] *= inv;
}

}  // namespace safu
