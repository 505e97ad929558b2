// cpp/include/safu/json_out.h - one JSON line per prediction (used by safu-run).
//
//   std::string line = safu::prediction_to_json(p);
//   // {"intent": "HassTurnOn", "confidence": 0.93, "slots": {"area": "kitchen"},
//   //  "spans": [{"name": "area", "value": "kitchen", "text": "kitchen", "start": 12, "end": 19}]}
//
// start/end are byte offsets into the input line. Strings are escaped per RFC 8259 (invalid
// UTF-8 in the input is replaced by U+FFFD so the output is always valid JSON).
#pragma once

#include <string>

#include "safu/intent_model.h"

namespace safu {

std::string json_escape(const std::string& s);
std::string prediction_to_json(const Prediction& p);

}  // namespace safu
