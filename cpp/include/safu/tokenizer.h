// cpp/include/safu/tokenizer.h - the byte-level tokenizer of docs/intent_model.md.
//
//   std::vector<safu::TokenSpan> spans;
//   safu::tokenize("Set it to 21.5", spans);    // spans: set[0,3) it[4,6) to[7,9) 21.5[10,14)
//   safu::Vocabulary vocab(file.get_str_array("tokenizer.vocab"));
//   int32_t id = vocab.lookup("Set it to 21.5", spans[0], scratch);   // id of "set"
//
// Word bytes: ASCII letters/digits and bytes >= 0x80. "'" between two word bytes and "." or ","
// between two ASCII digits stay inside a token. A-Z are lower-cased when a token is looked up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace safu {

// Special ids, fixed by the spec.
enum SpecialId : int32_t { PAD = 0, SOD = 1, FRG = 2, EOD = 3, UNK = 4, NUM = 5 };
constexpr int32_t N_SPECIALS = 6;

// Byte offsets [start, end) of one token in the input.
struct TokenSpan {
  size_t start = 0;
  size_t end = 0;
};

// Appends the spans of all tokens of text[0..n) to `out` (cleared first). No allocation once
// `out` has capacity. Returns the number of tokens.
size_t tokenize(const char* text, size_t n, std::vector<TokenSpan>& out);
inline size_t tokenize(const std::string& text, std::vector<TokenSpan>& out) {
  return tokenize(text.data(), text.size(), out);
}

// Writes the lower-cased token text into `out` (reused buffer).
void token_text(const char* text, const TokenSpan& span, std::string& out);

// True if the token is ASCII digits with only '.'/',' joiners (looked up as <num> when unknown).
bool is_number_token(const std::string& token);

// Token string -> id, per the spec's lookup rule.
class Vocabulary {
 public:
  Vocabulary() = default;
  // Throws FormatError unless it starts with the 6 specials and has no duplicates.
  explicit Vocabulary(const std::vector<std::string>& tokens);

  size_t size() const { return tokens_.size(); }
  const std::string& token(int32_t id) const { return tokens_[size_t(id)]; }
  // Words that are not tokens, read as the given ids (tokenizer.aliases / tokenizer.alias_ids; the
  // caller has checked them: no token, no repeat, ids of real words).
  void set_aliases(const std::vector<std::string>& words, const std::vector<uint32_t>& ids);
  size_t n_aliases() const { return alias_words_.size(); }
  bool contains(const std::string& token) const {
    int64_t k = find(token);
    return k >= 0 && size_t(k) < tokens_.size();
  }
  // Exact match -> id; else an alias -> its id; else <num> for numbers; else <unk>.
  int32_t lookup(const std::string& token) const;

 private:
  // Keys: the tokens (key k = id k) then the alias words (key N + i). One open-addressing table
  // over both, each slot (32-bit hash << 32 | key + 1), 0 = empty: a lookup reads one slot and,
  // when the hash matches, one key, instead of a hash map's bucket and node.
  const std::string& key(size_t k) const { return k < tokens_.size() ? tokens_[k] : alias_words_[k - tokens_.size()]; }
  int64_t find(const std::string& word) const;  // key of word, -1 if none
  bool insert(size_t k);                         // false if key k's word is already there
  void rebuild();

  std::vector<std::string> tokens_;
  std::vector<std::string> alias_words_;
  std::vector<int32_t> alias_ids_;
  std::vector<uint64_t> table_;  // size a power of two, at least twice the keys
};

}  // namespace safu
