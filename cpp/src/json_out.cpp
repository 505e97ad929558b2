// cpp/src/json_out.cpp - JSON serialisation of a Prediction.
#include "safu/json_out.h"

#include <cstdio>

namespace safu {

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == '"') { out += "\\\""; ++i; continue; }
    if (c == '\\') { out += "\\\\"; ++i; continue; }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
      continue;
    }
    if (c < 0x80) { out += char(c); ++i; continue; }
    // Copy a well-formed multi-byte sequence; replace anything else by U+FFFD.
    size_t len = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    bool ok = len && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0u) == 0x80u;
    if (ok) { out.append(s, i, len); i += len; }
    else { out += "\xEF\xBF\xBD"; ++i; }
  }
  return out + "\"";
}

std::string prediction_to_json(const Prediction& p) {
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.6g", double(p.confidence));
  std::string out = "{\"intent\": ";
  out += p.has_intent ? json_escape(p.intent) : "null";
  out += ", \"confidence\": ";
  out += conf;
  out += ", \"slots\": {";
  for (size_t i = 0; i < p.spans.size(); ++i)
    out += (i ? ", " : "") + json_escape(p.spans[i].name) + ": " + json_escape(p.spans[i].value);
  out += "}, \"spans\": [";
  for (size_t i = 0; i < p.spans.size(); ++i) {
    const SlotSpan& s = p.spans[i];
    out += (i ? ", " : "");
    out += "{\"name\": " + json_escape(s.name) + ", \"value\": " + json_escape(s.value) +
           ", \"text\": " + json_escape(s.text) + ", \"start\": " + std::to_string(s.start) +
           ", \"end\": " + std::to_string(s.end) + "}";
  }
  out += "]";
  if (!p.has_intent) out += ", \"reason\": " + json_escape(p.reason);
  return out + "}";
}

}  // namespace safu
