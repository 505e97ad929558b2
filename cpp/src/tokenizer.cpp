// cpp/src/tokenizer.cpp - byte-level tokenizer and vocabulary lookup (docs/intent_model.md).
#include "safu/tokenizer.h"

#include "safu/errors.h"

namespace safu {
namespace {

inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_word(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

}  // namespace

size_t tokenize(const char* text, size_t n, std::vector<TokenSpan>& out) {
  out.clear();
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text);
  size_t i = 0;
  while (i < n) {
    if (!is_word(s[i])) { ++i; continue; }
    size_t start = i++;
    while (i < n) {
      unsigned char c = s[i];
      if (is_word(c)) { ++i; continue; }
      bool has_next = i + 1 < n;
      // A joiner stays only between two bytes of the right kind (the previous one is in the token).
      if (c == '\'' && has_next && is_word(s[i + 1])) { i += 1; continue; }
      if ((c == '.' || c == ',') && has_next && is_digit(s[i - 1]) && is_digit(s[i + 1])) { i += 1; continue; }
      break;
    }
    out.push_back(TokenSpan{start, i});
  }
  return out.size();
}

void token_text(const char* text, const TokenSpan& span, std::string& out) {
  out.assign(text + span.start, span.end - span.start);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
}

bool is_number_token(const std::string& token) {
  if (token.empty()) return false;
  for (char c : token)
    if (!is_digit((unsigned char)c) && c != '.' && c != ',') return false;
  return true;
}

Vocabulary::Vocabulary(const std::vector<std::string>& tokens) : tokens_(tokens) {
  if (tokens.size() < size_t(N_SPECIALS))
    throw FormatError("tokenizer.vocab has " + std::to_string(tokens.size()) + " entries, expected at least the " +
                      std::to_string(N_SPECIALS) + " specials");
  static const char* specials[] = {"<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>"};
  for (int32_t i = 0; i < N_SPECIALS; ++i)
    if (tokens[size_t(i)] != specials[i])
      throw FormatError("tokenizer.vocab[" + std::to_string(i) + "] is '" + tokens[size_t(i)] + "', expected '" +
                        specials[i] + "'");
  ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!ids_.emplace(tokens[i], int32_t(i)).second)
      throw FormatError("tokenizer.vocab has the token '" + tokens[i] + "' twice (ids " +
                        std::to_string(ids_.at(tokens[i])) + " and " + std::to_string(i) + ")");
}

void Vocabulary::set_aliases(const std::vector<std::string>& words, const std::vector<uint32_t>& ids) {
  aliases_.clear();
  aliases_.reserve(words.size());
  for (size_t i = 0; i < words.size() && i < ids.size(); ++i) aliases_.emplace(words[i], int32_t(ids[i]));
}

int32_t Vocabulary::lookup(const std::string& token) const {
  auto it = ids_.find(token);
  if (it != ids_.end()) return it->second;
  auto al = aliases_.find(token);
  if (al != aliases_.end()) return al->second;
  return is_number_token(token) ? NUM : UNK;
}

}  // namespace safu
