// cpp/tests/test_lm_stream.cpp - streaming LM state: distributions, resets, block boundaries.
// (Agreement with the numpy batch forward is tested from Python.)
#include <cmath>

#include "check.h"
#include "safu/errors.h"
#include "safu/lm_stream.h"
#include "safu/sampler.h"
#include "tiny_models.h"

static safu::LmModel tiny() {
  std::vector<uint8_t> b = testing_safu::tiny_lm_model();
  return safu::LmModel(safu::ModelFile::from_bytes(b.data(), b.size()));
}

TEST(logprobs_normalised_over_a_long_stream) {
  safu::LmModel m = tiny();
  safu::LmStream s(m);
  for (int i = 0; i < 1000; ++i) {
    const float* lp = s.logprobs();
    double total = 0;
    for (size_t t = 0; t < m.vocab_size(); ++t) total += std::exp(double(lp[t]));
    if (std::fabs(total - 1.0) > 1e-4) { CHECK_NEAR(total, 1.0, 1e-4); break; }
    s.feed(int32_t(6 + (i * 5) % 13));
  }
  CHECK(s.position() == 1001);
}

TEST(eod_resets_the_document) {
  safu::LmModel m = tiny();
  safu::LmStream s(m);
  std::vector<float> first(s.logprobs(), s.logprobs() + m.vocab_size());
  for (int t : {6, 7, 9, 10, 11, 12}) s.feed(t);
  s.feed(safu::EOD);
  CHECK(s.position() == 1);
  const float* again = s.logprobs();
  for (size_t t = 0; t < m.vocab_size(); ++t) CHECK(again[t] == first[t]);
}

TEST(same_prefix_same_scores) {
  safu::LmModel m = tiny();
  safu::LmStream a(m), b(m);
  for (int t : {6, 7, 8}) a.feed(t);
  b.feed(9);
  b.reset();
  for (int t : {6, 7, 8}) b.feed(t);
  const float* la = a.logprobs();
  const float* lb = b.logprobs();
  for (size_t t = 0; t < m.vocab_size(); ++t) CHECK(la[t] == lb[t]);
}

TEST(rejects_bad_ids_and_kind) {
  safu::LmModel m = tiny();
  safu::LmStream s(m);
  CHECK_THROWS(safu::ShapeError, "cannot feed id 19", s.feed(19));
  CHECK_THROWS(safu::ShapeError, "cannot feed id 1", s.feed(safu::SOD));
  std::vector<uint8_t> b = testing_safu::tiny_intent_model();
  safu::ModelFile f = safu::ModelFile::from_bytes(b.data(), b.size());
  CHECK_THROWS(safu::FormatError, "expected 'lm'", safu::LmModel x(f));
}

TEST(sampler_basics) {
  safu::SplitMix64 rng(0);
  CHECK(rng.next() == 0xE220A8397B1DCDAFull);  // splitmix64's published first output for seed 0
  float logp[6] = {0.0f, 0.0f, 0.0f, -3.0f, -0.1f, -3.0f};
  CHECK(safu::sample_greedy(logp, 6) == 4);  // ids 0..2 are never picked
  for (int i = 0; i < 50; ++i) {
    int32_t t = safu::sample_pick(logp, 6, rng, 1.0, 0);
    CHECK(t >= 3 && t <= 5);
  }
  CHECK(safu::sample_pick(logp, 6, rng, 1.0, 1) == 4);
  CHECK_THROWS(safu::ShapeError, "temperature", safu::sample_pick(logp, 6, rng, 0.0, 0));
}

int main() { return check::run_tests(); }
