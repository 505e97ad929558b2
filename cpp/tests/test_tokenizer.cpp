// cpp/tests/test_tokenizer.cpp - tokenizer rules of docs/intent_model.md and vocabulary lookup.
#include "check.h"
#include "safu/errors.h"
#include "safu/tokenizer.h"
#include "tiny_models.h"

static std::vector<std::string> toks(const std::string& s) {
  std::vector<safu::TokenSpan> spans;
  safu::tokenize(s, spans);
  std::vector<std::string> out;
  std::string t;
  for (auto& sp : spans) {
    safu::token_text(s.data(), sp, t);
    out.push_back(t);
  }
  return out;
}

TEST(splits_and_lowercases) {
  CHECK((toks("Turn ON the Kitchen-lights!") == std::vector<std::string>{"turn", "on", "the", "kitchen", "lights"}));
  CHECK(toks("").empty());
  CHECK(toks("  ?!. ").empty());
}

TEST(joiners) {
  CHECK((toks("don't it's") == std::vector<std::string>{"don't", "it's"}));
  CHECK((toks("'quoted' rock'n'roll") == std::vector<std::string>{"quoted", "rock'n'roll"}));
  CHECK((toks("set 21.5 or 1,000.") == std::vector<std::string>{"set", "21.5", "or", "1,000"}));
  CHECK((toks("a.b 1.a 1..2 1,") == std::vector<std::string>{"a", "b", "1", "a", "1", "2", "1"}));
}

TEST(non_ascii_stays_in_words) {
  CHECK((toks("Café ÜBER") == std::vector<std::string>{"café", "Über"}));  // only A-Z lower-cased
}

TEST(offsets_are_bytes) {
  std::vector<safu::TokenSpan> spans;
  safu::tokenize("é ab", spans);
  CHECK(spans.size() == 2 && spans[1].start == 3 && spans[1].end == 5);
}

TEST(lookup) {
  safu::Vocabulary v(testing_safu::tiny_vocab());
  CHECK(v.lookup("turn") == 6);
  CHECK(v.lookup("21.5") == safu::NUM);
  CHECK(v.lookup("1,000") == safu::NUM);
  CHECK(v.lookup("zebra") == safu::UNK);
  CHECK(v.lookup("a1") == safu::UNK);
  CHECK_THROWS(safu::FormatError, "expected '<pad>'", safu::Vocabulary({"a", "b", "c", "d", "e", "f"}));
  std::vector<std::string> dup = testing_safu::tiny_vocab();
  dup.push_back("turn");
  CHECK_THROWS(safu::FormatError, "twice", safu::Vocabulary{dup});
}

int main() { return check::run_tests(); }
