// cpp/src/softmax.h - the numerically stable softmax pieces every forward pass uses (float32).
//
// exp is exp_nonpos below: a polynomial written with no calls and no branches, so the compiler
// vectorises the loops that use it (glibc's expf is a call per element and was the largest cost
// of a slot softmax over many labels). Sums and maxima run over four interleaved lanes, an order
// fixed by the code (not by the compiler), so results are the same on every target.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace safu {

// exp(x) for x <= 0 (a softmax's z - max): Cephes' expf polynomial after x = n ln2 + r,
// |r| <= ln2/2; relative error below 2e-7 against exp in double (cpp/tests/test_intent_model.cpp),
// 0 below -87.3 (where float32 exp goes denormal), NaN for NaN.
inline float exp_nonpos(float x) {
  float xc = x > -87.33f ? x : -87.33f;  // NaN too: the integer part below stays defined
  xc = xc < 88.0f ? xc : 88.0f;
  float t = xc * 1.44269504088896341f;
  float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23 drops the fraction
  float r = xc - n * 0.693359375f;             // ln2 in two parts, the first exact in float
  r = r - n * -2.12194440e-4f;
  float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) * (1 << 23);  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float e = p * scale;
  e = x < -87.33f ? 0.0f : e;
  return x == x ? e : x;
}

// Largest entry (n >= 1), over four lanes; NaN entries are skipped (they reach the output through
// exp_nonpos(z - m)).
inline float max_of(const float* z, size_t n) {
  float m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = z[i] > m0 ? z[i] : m0;
    m1 = z[i + 1] > m1 ? z[i + 1] : m1;
    m2 = z[i + 2] > m2 ? z[i + 2] : m2;
    m3 = z[i + 3] > m3 ? z[i + 3] : m3;
  }
  for (; i < n; ++i) m0 = z[i] > m0 ? z[i] : m0;
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  return m2 > m0 ? m2 : m0;
}

// Four-lane sum, the lanes added in a fixed order.
inline float lane_sum(const float* e, size_t n) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t k = 0; k < 4; ++k) s[k] += e[i + k];
  float tail = 0.0f;
  for (; i < n; ++i) tail += e[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}

// True when every entry is finite (z - z is 0 for those, NaN for inf and NaN), over four lanes.
inline bool all_finite(const float* z, size_t n) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t k = 0; k < 4; ++k) s[k] += z[i + k] - z[i + k];
  float tail = 0.0f;
  for (; i < n; ++i) tail += z[i] - z[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + tail == 0.0f;
}

// sum exp(z[i] - m), over the same four lanes as lane_sum.
inline float sum_exp_shifted(const float* z, size_t n, float m) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t k = 0; k < 4; ++k) s[k] += exp_nonpos(z[i + k] - m);
  float tail = 0.0f;
  for (; i < n; ++i) tail += exp_nonpos(z[i] - m);
  return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}

// log sum exp(z) = m + log(sum exp(z - m)), the log in double; NaN if z has a NaN or +inf.
inline double log_sum_exp(const float* z, size_t n) {
  float m = max_of(z, n);
  return double(m) + std::log(double(sum_exp_shifted(z, n, m)));
}

// out[i] = -log_softmax(z)[i] = m + log(sum exp(z - m)) - z[i]; returns sum of out (out may be z).
inline float neg_log_softmax(const float* z, size_t n, float* out) {
  float m = max_of(z, n);
  float lse = m + std::log(sum_exp_shifted(z, n, m));
  float total = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    out[i] = lse - z[i];
    total += out[i];
  }
  return total;
}

// In place: z <- softmax(z) = exp(z - m) / sum exp(z - m); equal to the reference's
// exp(log_softmax(z)) within float32 rounding.
inline void softmax_inplace(float* z, size_t n) {
  float m = max_of(z, n);
  for (size_t i = 0; i < n; ++i) z[i] = exp_nonpos(z[i] - m);
  float inv = 1.0f / lane_sum(z, n);
  for (size_t i = 0; i < n; ++i) z[i] *= inv;
}

}  // namespace safu
