// cpp/tests/test_intent_model.cpp - intent forward invariants, predict, errors, threads.
// (Numerical agreement with the numpy reference is tested from Python.)
#include <cmath>
#include <thread>

#include "check.h"
#include "safu/errors.h"
#include "safu/intent_model.h"
#include "safu/json_out.h"
#include "../src/softmax.h"
#include "tiny_models.h"

static safu::IntentModel tiny() {
  std::vector<uint8_t> b = testing_safu::tiny_intent_model();
  return safu::IntentModel(safu::ModelFile::from_bytes(b.data(), b.size()));
}

TEST(forward_gives_distributions) {
  safu::IntentModel m = tiny();
  safu::IntentWorkspace ws(m);
  CHECK(m.n_intents() == 3 && m.n_slot_labels() == 5 && m.vocab_size() == 19);
  std::vector<float> pi(3), ps(8 * 5);
  for (size_t n = 0; n <= 8; ++n) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back(int32_t((i * 7 + 3) % 19));
    m.forward(ids.data(), n, ws, pi.data(), ps.data());
    double s = pi[0] + pi[1] + pi[2];
    CHECK_NEAR(s, 1.0, 1e-5);
    for (size_t j = 0; j < n; ++j) {
      double t = 0;
      for (size_t k = 0; k < 5; ++k) t += ps[j * 5 + k];
      CHECK_NEAR(t, 1.0, 1e-5);
    }
  }
}

TEST(forward_rejects_bad_ids) {
  safu::IntentModel m = tiny();
  safu::IntentWorkspace ws(m);
  std::vector<float> pi(3), ps(100);
  int32_t bad[] = {6, 19};
  CHECK_THROWS(safu::ShapeError, "outside the vocabulary", m.forward(bad, 2, ws, pi.data(), ps.data()));
  int32_t neg[] = {-1};
  CHECK_THROWS(safu::ShapeError, "outside the vocabulary", m.forward(neg, 1, ws, pi.data(), ps.data()));
  std::vector<int32_t> many(9, 6);
  CHECK_THROWS(safu::ShapeError, "at most tokenizer.max_tokens = 8", m.forward(many.data(), 9, ws, pi.data(), ps.data()));
}

TEST(predict_is_consistent_with_forward) {
  safu::IntentModel m = tiny();
  safu::IntentWorkspace ws(m);
  std::string text = "Turn on the living room lights, then play music in the kitchen please";
  safu::Prediction p = m.predict(text, ws);
  std::vector<int32_t> ids;
  size_t n = m.encode(text, ws, &ids);
  CHECK(n == 8);  // max_tokens cuts the rest
  std::vector<float> pi(3), ps(8 * 5);
  m.forward(ids.data(), n, ws, pi.data(), ps.data());
  size_t best = 0;
  for (size_t c = 1; c < 3; ++c) if (pi[c] > pi[best]) best = c;
  CHECK(p.intent == m.intent_labels()[best]);
  CHECK_NEAR(p.confidence, pi[best], 1e-7);
  CHECK(p.has_intent == (pi[best] >= m.threshold()));
  for (const safu::SlotSpan& s : p.spans) {
    CHECK(s.end > s.start && s.end <= text.size());
    CHECK(s.text == text.substr(s.start, s.end - s.start));
  }
  std::string json = safu::prediction_to_json(p);
  CHECK(json.find("\"confidence\": ") != std::string::npos);
}

TEST(empty_text) {
  safu::IntentModel m = tiny();
  safu::IntentWorkspace ws(m);
  safu::Prediction p = m.predict("", ws);
  CHECK(p.spans.empty());
  CHECK(!p.has_intent && p.confidence == 0.0f);
  CHECK(p.reason.find("empty input") != std::string::npos);
}

TEST(threads_agree_with_single_thread) {
  safu::IntentModel m = tiny();
  std::vector<std::string> texts = {"turn on the lights", "turn off the kitchen", "play music",
                                    "set the living room to 21 degrees", "zebra 12,5 don't"};
  std::vector<std::string> expect;
  {
    safu::IntentWorkspace ws(m);
    for (auto& t : texts) expect.push_back(safu::prediction_to_json(m.predict(t, ws)));
  }
  std::vector<int> bad(4, 0);
  std::vector<std::thread> pool;
  for (int k = 0; k < 4; ++k)
    pool.emplace_back([&, k] {
      safu::IntentWorkspace ws(m);
      for (int rep = 0; rep < 200; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (safu::prediction_to_json(m.predict(texts[i], ws)) != expect[i]) ++bad[size_t(k)];
    });
  for (auto& t : pool) t.join();
  CHECK(bad[0] + bad[1] + bad[2] + bad[3] == 0);
}

TEST(wrong_kind_and_shapes) {
  std::vector<uint8_t> lm = testing_safu::tiny_lm_model();
  safu::ModelFile f = safu::ModelFile::from_bytes(lm.data(), lm.size());
  CHECK_THROWS(safu::FormatError, "expected 'intent'", safu::IntentModel m(f));
}

TEST(json_escaping) {
  CHECK(safu::json_escape("a\"b\\c\n") == "\"a\\\"b\\\\c\\u000a\"");
  CHECK(safu::json_escape(std::string("\xff" "x", 2)) == "\"\xEF\xBF\xBDx\"");
  CHECK(safu::json_escape("café") == "\"café\"");
}

TEST(exp_nonpos_is_exp_within_2e_7) {
  // Every 97th float of [-87.3, 0] (float32 exp's normal range): relative error against exp in double.
  double worst = 0.0;
  size_t k = 0;
  for (float x = 0.0f; x >= -87.3f; x = std::nextafter(x, -1e9f))
    if (k++ % 97 == 0) worst = std::max(worst, std::fabs(double(safu::exp_nonpos(x)) - std::exp(double(x))) / std::exp(double(x)));
  CHECK(worst < 2e-7);
  CHECK(safu::exp_nonpos(0.0f) == 1.0f);
  CHECK(safu::exp_nonpos(-100.0f) == 0.0f && safu::exp_nonpos(-INFINITY) == 0.0f);
  CHECK(std::isnan(safu::exp_nonpos(NAN)));
  // softmax and log sum exp with the lanes' tails (n not a multiple of 4) and a NaN logit
  float z[7] = {0.5f, -1.0f, 3.0f, 2.0f, -20.0f, 0.0f, 1.5f};
  double lse = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(3.0) + std::exp(2.0) + std::exp(-20.0) + 1.0 + std::exp(1.5));
  CHECK_NEAR(safu::log_sum_exp(z, 7), lse, 1e-6);
  safu::softmax_inplace(z, 7);
  CHECK_NEAR(z[2], std::exp(3.0 - lse), 1e-7);
  float bad[5] = {0.0f, 1.0f, NAN, 2.0f, 3.0f};
  CHECK(std::isnan(safu::log_sum_exp(bad, 5)));
}

int main() { return check::run_tests(); }
