// cpp/include/safu/intent_model.h - the intent model (kind `intent`) of docs/intent_model.md.
//
//   safu::IntentModel model = safu::IntentModel::load("home.safu");   // throws FormatError/ShapeError/IoError
//   safu::IntentWorkspace ws(model);                                   // one per thread; reused
//   safu::Prediction p = model.predict("turn on the kitchen lights", ws);
//   // p.intent == "HassTurnOn", p.spans[0].name == "area", p.spans[0].value == "kitchen"
//
// Any number of threads may call forward/predict at once, each with its own workspace. The hot
// path does not allocate (the workspace is sized for max_tokens); predict() allocates only the
// strings it returns.
//
// Per-token caches (every token-dependent quantity is a lookup into these tables):
//   cmp_sod[t]   = R[t] . R[<sod>]                       (N)       intent head comparisons
//   cmp_top      = R R^T over the first `top` type ids    (top, top) slot comparisons
//   slot_proj[k] = R @ slot_U[k*D:(k+1)*D]               (K_s, N, S)
//   intent_row_proj / intent_att_proj = R @ intent_U rows (N, C) each
// so a slot position costs O(K_s^2 + K_s*S) and the intent block O(L^2 + L*C). Loading only sizes
// them: a token's rows (about K_s*D*S + 2*D*C + top*D multiply-adds) are computed the first time a
// forward pass meets the token, under a mutex, and read without one after that (an atomic flag per
// token). So a load costs the file's parse and checks, and each new word its rows once; the values
// are those a full build at load would give.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "safu/model_file.h"
#include "safu/tokenizer.h"

namespace safu {

// One decoded slot: byte offsets [start, end) of its surface in the input text.
struct SlotSpan {
  std::string name;
  int32_t slot = -1;  // index of name in IntentModel::slot_names()
  std::string value;  // the synonym's value if one matches, else the surface text
  std::string text;   // the surface text cut from the input
  size_t start = 0;
  size_t end = 0;
};

// Same rules as safu.runtime.api.IntentModel.predict: empty input -> no intent, confidence 0;
// confidence below intent.threshold -> no intent and no slots, with a reason.
struct Prediction {
  bool has_intent = false;  // false: empty input or out of scope
  std::string intent;       // the top intent's name even when has_intent is false ("" if empty input)
  int32_t intent_index = -1;  // index of intent in IntentModel::intent_labels() (-1 if empty input)
  float confidence = 0.0f;  // top intent probability
  std::vector<SlotSpan> spans;
  std::string reason;       // why has_intent is false
  bool truncated = false;   // the input had more than max_tokens tokens
};

class IntentModel;

// Scratch memory for one forward pass; one per thread.
class IntentWorkspace {
 public:
  explicit IntentWorkspace(const IntentModel& model);

 private:
  friend class IntentModel;
  std::vector<int32_t> seq, ids;
  std::vector<float> q, z, a, logits, p_intent, p_slot;
  std::vector<float> near;                // compare(seq[i], seq[i + d]), d = 1..r: (max_tokens + 2, r)
  std::vector<double> delta, delta_next;  // Viterbi scores of the current and next token (S each)
  std::vector<int32_t> back;              // Viterbi back-pointers (max_tokens, S)
  std::vector<int32_t> label;             // decoded label per token
  std::vector<double> lp;                 // log p_slot + known-value evidence (max_tokens, S)
  std::vector<uint8_t> hit;               // where a known value matches (max_tokens, S)
  std::vector<uint8_t> case_flags;        // letter-case flags of each token (max_tokens), set by encode()
  std::vector<uint8_t> seen;              // per slot name: a span was given (predict)
  std::vector<TokenSpan> spans;
  std::string token;
};

class IntentModel {
 public:
  // Loads and validates a kind-`intent` file. Throws IoError, FormatError or ShapeError.
  static IntentModel load(const std::string& path);
  // Builds from an already validated container (checks kind, keys and tensor shapes).
  explicit IntentModel(const ModelFile& file);

  // ---- sizes and metadata ----
  size_t vocab_size() const { return N_; }
  size_t dim() const { return D_; }
  size_t max_tokens() const { return max_tokens_; }
  size_t slot_radius() const { return r_; }
  size_t n_intents() const { return C_; }
  size_t n_slot_labels() const { return S_; }
  size_t bigram_buckets() const { return B_; }
  float threshold() const { return threshold_; }
  const std::vector<std::string>& intent_labels() const { return intent_labels_; }
  const std::vector<std::string>& slot_labels() const { return slot_labels_; }
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  const Vocabulary& vocabulary() const { return vocab_; }
  const std::map<std::string, std::string>& metadata_strings() const { return meta_strings_; }
  // Bytes held by the loaded model's tables (weights + caches).
  size_t memory_bytes() const;

  // ---- inference ----
  // Token ids of `text` (first max_tokens tokens); spans land in the workspace. Returns n.
  size_t encode(const std::string& text, IntentWorkspace& ws, std::vector<int32_t>* ids_out = nullptr,
                bool* truncated = nullptr) const;
  // p_intent: C floats; p_slot: n*S floats (row per token). Throws ShapeError if n > max_tokens
  // or an id is outside [0, N).
  void forward(const int32_t* ids, size_t n, IntentWorkspace& ws, float* p_intent, float* p_slot) const;
  // Tokenize, forward, threshold, Viterbi slot decoding, synonyms (docs/intent_model.md "Slot decoding").
  Prediction predict(const std::string& text, IntentWorkspace& ws) const;
  // The label sequence of docs/intent_model.md "Slot decoding" for p_slot (n, S) under intent c:
  // Viterbi over log max(p, 1e-30) plus the known-value evidence of `ids` (slot.values) plus the
  // slot_transitions scores, legal BIO transitions only.
  void viterbi(const int32_t* ids, const float* p_slot, size_t n, size_t c, IntentWorkspace& ws,
               int32_t* labels_out) const;

 private:
  float compare(int32_t s, int32_t t) const;  // R[s] . R[t], from the cache when possible
  uint32_t value_child(uint32_t node, int32_t id) const;  // node's child for token id in the value trie (0: none)
  void fill_token(int32_t t) const;            // computes token t's cache rows unless they are there
  void intent_forward(const int32_t* seq, size_t L, IntentWorkspace& ws, float* p_intent) const;
  // p_out gets probabilities, or only logits when `logits_only` (predict needs just the argmax).
  void slot_forward(const int32_t* seq, size_t L, size_t j, IntentWorkspace& ws, float* p_out, bool logits_only) const;
  size_t begin_forward(const int32_t* ids, size_t n, IntentWorkspace& ws) const;
  void slots_forward(size_t L, IntentWorkspace& ws, float* p_slot, bool logits_only) const;
  void check_finite_output(const float* p, size_t count) const;
  [[noreturn]] static void throw_non_finite();
  void slot_log_probs(size_t L, size_t c, IntentWorkspace& ws) const;
  void viterbi_lp(const int32_t* ids, size_t n, size_t c, IntentWorkspace& ws, int32_t* labels_out) const;
  void forward_impl(const int32_t* ids, size_t n, IntentWorkspace& ws, float* p_intent, float* p_slot,
                    bool slot_logits_only) const;

  size_t N_ = 0, D_ = 0, max_tokens_ = 0, r_ = 0, Ks_ = 0, Ki_ = 0, B_ = 0, C_ = 0, S_ = 0;
  float threshold_ = 0.0f;
  size_t none_index_ = 0;  // index of the intent <none>, C_ when there is none
  Vocabulary vocab_;
  std::vector<std::string> intent_labels_, slot_labels_, slot_names_;
  std::vector<int32_t> label_kind_;  // per slot label: 0 = O, 1 = B, 2 = I
  std::vector<int32_t> label_slot_;  // per slot label: index into slot_names_ (-1 for O)
  std::map<std::string, std::string> synonyms_;      // "slot\tsurface" -> value
  std::map<std::string, std::string> meta_strings_;  // STR metadata, for inspection

  std::vector<float> R_;          // (N, D)
  std::vector<float> slot_W_;     // (K_s, K_s)
  std::vector<float> slot_id_;    // (N, S) word-identity rows of slot_U, slot_b added
  std::vector<float> slot_U_window_;  // (K_s*D, S) rows of slot_U that project R (slot_proj)
  std::vector<float> slot_b_;     // (S,)
  // Viterbi runs over the labels an intent allows (O always). Intents that allow the same labels
  // share a group: its labels ascending and their transition scores in double: start (U,), -inf
  // where BIO forbids the label first; and per label u the steps into it that BIO allows, from
  // label from[i] with score score[i] for i in [into[u], into[u+1]) (from ascending).
  struct LabelGroup {
    std::vector<uint32_t> labels;
    std::vector<double> start;
    std::vector<uint32_t> into, from;
    std::vector<double> score;
  };
  std::vector<LabelGroup> label_groups_;
  std::vector<uint32_t> intent_group_;  // (C,) index into label_groups_
  // Known slot values (slot.values) as a trie over token ids: value_roots_[id] is the child of the
  // root (0 = none); below it node's children are value_child_node_[i] for the token ids
  // value_child_id_[i] (ascending), i in [value_child_begin_[node], value_child_begin_[node + 1]);
  // value_ends_[node] holds the (B label, I label) of each value that ends at the node (node 0 = the root).
  std::vector<uint32_t> value_roots_;
  std::vector<uint32_t> value_child_begin_, value_child_node_;
  std::vector<int32_t> value_child_id_;
  std::vector<std::vector<std::pair<int32_t, int32_t>>> value_ends_;
  double value_bonus_ = 0.0;           // slot.value_bonus
  std::vector<float> slot_case_;       // (5, S) letter-case scores (slot_case), empty when absent
  std::vector<uint8_t> trim_possessive_;  // per slot name: 1 = its spans leave a final "'s" out
  std::vector<float> intent_W_;   // (K_i, K_i)
  std::vector<float> intent_bow_; // (N, C) rows [0, N) of intent_U
  std::vector<float> intent_big_; // (B, C) rows [N, N+B)
  std::vector<float> intent_U_rows_;  // (2D, C) rows [N+B, N+B+2D): project R (intent_row/att_proj)
  std::vector<float> intent_b_;   // (C,)
  // A cache table: floats left uninitialised (a row is written before it is read, see filled_), so
  // loading touches none of its pages and a large vocabulary's table costs memory as words are used.
  struct CacheTable {
    std::unique_ptr<float[]> data;
    size_t n = 0;
    void allocate(size_t count) { data.reset(new float[count]); n = count; }
    float& operator[](size_t i) const { return data[i]; }
    size_t size() const { return n; }
  };
  // caches, row t written once by fill_token (under fill_mutex_) before filled_[t] is set
  CacheTable cmp_sod_;          // (N,)
  CacheTable cmp_self_;         // (N,) compare(t, t)
  size_t top_ = 0;
  CacheTable cmp_top_;          // (top, top)
  CacheTable slot_proj_;        // (N, K_s, S): a token's K_s rows side by side
  CacheTable intent_row_proj_;  // (N, C)
  CacheTable intent_att_proj_;  // (N, C)
  std::unique_ptr<std::atomic<uint8_t>[]> filled_;  // (N,) 1 once token t's rows are in the caches
  std::unique_ptr<std::mutex> fill_mutex_;          // (pointers keep the model movable)
};

}  // namespace safu
