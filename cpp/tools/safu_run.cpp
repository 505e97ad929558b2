// cpp/tools/safu_run.cpp - run an intent model with no Python: text lines in, JSON lines out.
//
//   safu-run home.safu < commands.txt
//   echo "turn on the kitchen lights" | safu-run home.safu
//   {"intent": "HassTurnOn", "confidence": 0.93, "slots": {"area": "kitchen"}, "spans": [...]}
//
// Exit codes: 0 ok, 1 the model file could not be loaded (message on stderr), 2 usage.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "safu/errors.h"
#include "safu/intent_model.h"
#include "safu/json_out.h"

static const char* kUsage =
    "usage: safu-run MODEL.safu < lines.txt\n"
    "Reads one utterance per line on stdin and writes one JSON object per line:\n"
    "  {\"intent\": name or null, \"confidence\": p, \"slots\": {name: value}, \"spans\": [...]}\n"
    "example: echo \"turn on the kitchen lights\" | safu-run home.safu\n";

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) {
    std::fputs(kUsage, argc == 2 ? stdout : stderr);
    return argc == 2 ? 0 : 2;
  }
  try {
    safu::IntentModel model = safu::IntentModel::load(argv[1]);
    safu::IntentWorkspace ws(model);
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::cout << safu::prediction_to_json(model.predict(line, ws)) << '\n';
    }
    std::cout.flush();
  } catch (const safu::Error& e) {
    std::fprintf(stderr, "safu-run: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
