// cpp/tests/check.h - a minimal test harness (no dependencies): CHECK, CHECK_THROWS, run_tests.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

inline int& failures() { static int n = 0; return n; }
inline std::vector<std::pair<const char*, std::function<void()>>>& registry() {
  static std::vector<std::pair<const char*, std::function<void()>>> r;
  return r;
}
struct Register {
  Register(const char* name, std::function<void()> f) { registry().emplace_back(name, std::move(f)); }
};

inline int run_tests() {
  for (auto& t : registry()) {
    int before = failures();
    try {
      t.second();
    } catch (const std::exception& e) {
      std::printf("  unexpected exception: %s\n", e.what());
      ++failures();
    }
    std::printf("%s %s\n", failures() == before ? "ok  " : "FAIL", t.first);
  }
  std::printf("%d failure(s)\n", failures());
  return failures() ? 1 : 0;
}

}  // namespace check

#define TEST(name)                                          \
  static void name();                                       \
  static check::Register name##_registered(#name, name);   \
  static void name()

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);     \
      ++check::failures();                                                       \
    }                                                                            \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                  \
  do {                                                                                         \
    double a_ = (a), b_ = (b);                                                                 \
    if (!(std::fabs(a_ - b_) <= (tol))) {                                                      \
      std::printf("  %s:%d: %s = %g, %s = %g, |diff| > %g\n", __FILE__, __LINE__, #a, a_, #b, b_, \
                  double(tol));                                                                \
      ++check::failures();                                                                     \
    }                                                                                          \
  } while (0)

// Checks that `expr` throws `Exc` whose message contains `needle`.
#define CHECK_THROWS(Exc, needle, expr)                                                        \
  do {                                                                                         \
    bool thrown_ = false;                                                                      \
    try {                                                                                      \
      expr;                                                                                    \
    } catch (const Exc& e) {                                                                   \
      thrown_ = true;                                                                          \
      if (std::string(e.what()).find(needle) == std::string::npos) {                           \
        std::printf("  %s:%d: message '%s' lacks '%s'\n", __FILE__, __LINE__, e.what(), needle); \
        ++check::failures();                                                                   \
      }                                                                                        \
    }                                                                                          \
    if (!thrown_) {                                                                            \
      std::printf("  %s:%d: %s did not throw %s\n", __FILE__, __LINE__, #expr, #Exc);         \
      ++check::failures();                                                                     \
    }                                                                                          \
  } while (0)
