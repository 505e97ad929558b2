// cpp/tests/test_mutations.cpp - deterministic mutation fuzzing of the loader, meant to run under
// ASan + UBSan (SAFU_SANITIZE=ON): byte flips, random values, truncations and length-field edits
// in the header/metadata/directory of valid files, with CRCs recomputed so the mutations reach the
// parser and the model constructors. Every outcome must be success or a safu::Error.
#include <cstdio>

#include "check.h"
#include "safu/errors.h"
#include "safu/intent_model.h"
#include "safu/lm_stream.h"
#include "tiny_models.h"

using testing_safu::Lcg;
using testing_safu::Writer;

static uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + size_t(i)];
  return v;
}

// Recomputes the metadata and header CRCs (tensor data is never mutated, so tensor CRCs hold
// unless the directory itself was edited).
static void fix_crcs(std::vector<uint8_t>& b) {
  if (b.size() < 48) return;
  uint64_t meta_size = le64(b, 16);
  if (meta_size <= b.size() - 48) {
    uint32_t c = safu::crc32(b.data() + 48, size_t(meta_size));
    for (int i = 0; i < 4; ++i) b[40 + size_t(i)] = uint8_t(c >> (8 * i));
  }
  Writer::fix_header_crc(b);
}

static void exercise(const std::vector<uint8_t>& b, int& accepted) {
  try {
    safu::ModelFile f = safu::ModelFile::from_bytes(b.data(), b.size());
    try {
      safu::IntentModel m(f);
      safu::IntentWorkspace ws(m);
      m.predict("turn on the living room lights 21.5 don't", ws);
      ++accepted;
    } catch (const safu::Error&) {
    }
    try {
      safu::LmModel lm(f);
      safu::LmStream s(lm);
      s.logprobs();
      if (lm.vocab_size() > 6) { s.feed(6); s.logprobs(); }
      ++accepted;
    } catch (const safu::Error&) {
    }
  } catch (const safu::Error&) {
  }
}

TEST(mutated_files_load_or_throw_safu_errors) {
  int accepted = 0, runs = 0;
  for (int which = 0; which < 2; ++which) {
    std::vector<uint8_t> good = which ? testing_safu::tiny_lm_model() : testing_safu::tiny_intent_model();
    size_t data_offset = size_t(le64(good, 24));
    Lcg g(42 + uint64_t(which));
    for (int run = 0; run < 4000; ++run, ++runs) {
      std::vector<uint8_t> b = good;
      int edits = 1 + int(g.next() * 4);
      for (int e = 0; e < edits; ++e) {
        size_t at = size_t(g.next() * float(data_offset));  // header, metadata, directory
        float kind = g.next();
        if (kind < 0.5f) b[at] ^= uint8_t(1u << int(g.next() * 8));
        else if (kind < 0.8f) b[at] = uint8_t(g.next() * 256);
        else if (kind < 0.9f) { for (size_t k = at; k < at + 4 && k < b.size(); ++k) b[k] = 0xFF; }
        else b.resize(size_t(g.next() * float(b.size())));
      }
      if (run % 4 != 3) fix_crcs(b);
      exercise(b, accepted);
    }
  }
  std::printf("  %d mutated files, %d loads succeeded, the rest rejected with safu errors\n", runs, accepted);
  CHECK(runs == 8000);
}

int main() { return check::run_tests(); }
