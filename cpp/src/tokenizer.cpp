// cpp/src/tokenizer.cpp - byte-level tokenizer and vocabulary lookup (docs/intent_model.md).
#include "safu/tokenizer.h"

#include <algorithm>

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

namespace {

uint32_t hash_word(const char* s, size_t n) {  // FNV-1a
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ uint8_t(s[i])) * 16777619u;
  return h;
}

}  // namespace

Vocabulary::Vocabulary(const std::vector<std::string>& tokens) : tokens_(tokens) {
  if (tokens.size() < size_t(N_SPECIALS))
    throw FormatError("tokenizer.vocab has " + std::to_string(tokens.size()) + " entries, expected at least the " +
                      std::to_string(N_SPECIALS) + " specials");
  static const char* specials[] = {"<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>"};
  for (int32_t i = 0; i < N_SPECIALS; ++i)
    if (tokens[size_t(i)] != specials[i])
      throw FormatError("tokenizer.vocab[" + std::to_string(i) + "] is '" + tokens[size_t(i)] + "', expected '" +
                        specials[i] + "'");
  rebuild();
}

void Vocabulary::rebuild() {
  size_t keys = tokens_.size() + alias_words_.size(), size = 16;
  while (size < 2 * keys) size *= 2;
  table_.assign(size, 0);
  for (size_t k = 0; k < keys; ++k)
    if (!insert(k)) {
      if (k < tokens_.size())
        throw FormatError("tokenizer.vocab has the token '" + tokens_[k] + "' twice (ids " +
                          std::to_string(find(tokens_[k])) + " and " + std::to_string(k) + ")");
      // an alias repeated: the first one stays (the caller has refused repeats)
    }
}

bool Vocabulary::insert(size_t k) {
  const std::string& w = key(k);
  uint64_t h = hash_word(w.data(), w.size());
  size_t mask = table_.size() - 1;
  for (size_t i = size_t(h) & mask;; i = (i + 1) & mask) {
    uint64_t e = table_[i];
    if (e == 0) {
      table_[i] = (h << 32) | uint64_t(k + 1);
      return true;
    }
    if ((e >> 32) == h && key(size_t(uint32_t(e)) - 1) == w) return false;
  }
}

int64_t Vocabulary::find(const std::string& word) const {
  uint64_t h = hash_word(word.data(), word.size());
  size_t mask = table_.size() - 1;
  for (size_t i = size_t(h) & mask;; i = (i + 1) & mask) {
    uint64_t e = table_[i];
    if (e == 0) return -1;
    if ((e >> 32) == h && key(size_t(uint32_t(e)) - 1) == word) return int64_t(uint32_t(e)) - 1;
  }
}

void Vocabulary::set_aliases(const std::vector<std::string>& words, const std::vector<uint32_t>& ids) {
  size_t n = std::min(words.size(), ids.size());
  alias_words_.assign(words.begin(), words.begin() + ptrdiff_t(n));
  alias_ids_.assign(ids.begin(), ids.begin() + ptrdiff_t(n));
  rebuild();
}

int32_t Vocabulary::lookup(const std::string& token) const {
  int64_t k = find(token);
  if (k >= 0) return size_t(k) < tokens_.size() ? int32_t(k) : alias_ids_[size_t(k) - tokens_.size()];
  return is_number_token(token) ? NUM : UNK;
}

}  // namespace safu
