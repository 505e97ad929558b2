// cpp/tests/test_fuzz_corpus.cpp - every file in tests/fuzz_corpus/ (crashers and seeds saved by
// the fuzzer) must load or be rejected with a safu::Error; nothing else may escape. The first
// byte of each file is the fuzzer's mode byte and is skipped.
//   test-fuzz-corpus <dir>
#include <cstdio>
#include <dirent.h>
#include <string>
#include <vector>

#include "safu/errors.h"
#include "safu/intent_model.h"
#include "safu/lm_stream.h"

static std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

int main(int argc, char** argv) {
  if (argc != 2) { std::fprintf(stderr, "usage: test-fuzz-corpus DIR\n"); return 2; }
  DIR* d = opendir(argv[1]);
  if (!d) { std::printf("no corpus at %s (nothing to check)\n", argv[1]); return 0; }
  int files = 0, accepted = 0, failures = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.rfind("README", 0) == 0) continue;
    std::vector<uint8_t> b = read_all(std::string(argv[1]) + "/" + name);
    if (!b.empty()) b.erase(b.begin());  // the fuzzer's mode byte (tests/fuzz_corpus/README.md)
    ++files;
    try {
      safu::ModelFile f = safu::ModelFile::from_bytes(b.data(), b.size(), name);
      const std::string kind = f.has("general.kind") ? f.get_str("general.kind") : "";
      if (kind == "lm") {
        safu::LmModel m(f);
        safu::LmStream s(m);
        s.logprobs();
      } else {
        safu::IntentModel m(f);
        safu::IntentWorkspace ws(m);
        m.predict("turn on the kitchen lights 21.5", ws);
      }
      ++accepted;
    } catch (const safu::Error&) {
      // rejected cleanly
    } catch (const std::exception& ex) {
      std::printf("FAIL %s: escaped non-safu exception: %s\n", name.c_str(), ex.what());
      ++failures;
    }
  }
  closedir(d);
  std::printf("%d corpus files, %d accepted, %d rejected cleanly, %d failures\n", files, accepted,
              files - accepted - failures, failures);
  return failures ? 1 : 0;
}
