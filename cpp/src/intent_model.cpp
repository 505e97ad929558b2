// cpp/src/intent_model.cpp - intent forward pass, caches and slot decoding (docs/intent_model.md).
#include "safu/intent_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "safu/errors.h"
#include "softmax.h"
#include "tensor_load.h"

namespace safu {
namespace {

// Comparison table size: the first kTopTypes ids (specials and, by the trainer's ordering, the
// most frequent types) get an exact precomputed R R^T; others are computed on the fly.
constexpr size_t kTopTypes = 256;

// Summed over eight interleaved lanes, added in a fixed order (the compiler vectorises it; the
// result does not depend on the target). Symmetric: dot(x, y) == dot(y, x) bit for bit.
float dot(const float* x, const float* y, size_t n) {
  float s[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t k = 0; k < 8; ++k) s[k] += x[i + k] * y[i + k];
  float tail = 0.0f;
  for (; i < n; ++i) tail += x[i] * y[i];
  return (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))) + tail;
}

// out (C,) = r (D,) @ U[rows row0 .. row0+D) (C columns), accumulated in double (acc: C scratch).
void project_row(const float* r, size_t D, const float* U, size_t row0, size_t C, double* acc, float* out) {
  std::fill(acc, acc + C, 0.0);
  for (size_t d = 0; d < D; ++d) {
    double x = r[d];
    if (x == 0.0) continue;
    const float* u = &U[(row0 + d) * C];
    for (size_t c = 0; c < C; ++c) acc[c] += x * u[c];
  }
  for (size_t c = 0; c < C; ++c) out[c] = float(acc[c]);
}

// Letter-case flags of docs/intent_model.md "Slot decoding" (models/slot_case.py): rows of slot_case.
constexpr size_t kCaseFeatures = 5;

bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool lower(char c) { return c >= 'a' && c <= 'z'; }

void case_flags(const std::string& text, const TokenSpan* spans, size_t n, uint8_t* out) {
  std::fill(out, out + n, uint8_t(0));
  bool has_case = false;
  for (size_t j = 0; j < n && !has_case; ++j) has_case = lower(text[spans[j].start]);
  if (!has_case) return;  // capitals throughout (or none): no case information
  for (size_t j = 0; j < n; ++j) {
    const TokenSpan& t = spans[j];
    if (!upper(text[t.start])) continue;
    if (j == 0) {
      out[0] |= 2;  // capitalised first
    } else {
      out[j] |= 1;                   // capitalised
      out[j - 1] |= 16;              // next capitalised
      if (j + 1 < n) out[j + 1] |= 8;  // previous capitalised
    }
    bool other_upper = false, any_lower = false;
    for (size_t i = t.start + 1; i < t.end; ++i) {
      other_upper = other_upper || upper(text[i]);
      any_lower = any_lower || lower(text[i]);
    }
    if (other_upper && !any_lower) out[j] |= 4;  // all caps
  }
}

}  // namespace

IntentWorkspace::IntentWorkspace(const IntentModel& m) {
  size_t K = std::max(m.max_tokens() + 2, 2 * m.slot_radius() + 1);
  seq.resize(m.max_tokens() + 2);
  ids.resize(m.max_tokens());
  q.resize(K);
  z.resize(K);
  a.resize(K);
  logits.resize(std::max(m.n_intents(), m.n_slot_labels()) + 1);
  p_intent.resize(m.n_intents());
  p_slot.resize(m.max_tokens() * m.n_slot_labels());
  delta.resize(m.n_slot_labels());
  delta_next.resize(m.n_slot_labels());
  back.resize(m.max_tokens() * m.n_slot_labels());
  label.resize(m.max_tokens());
  lp.resize(m.max_tokens() * m.n_slot_labels());
  near.resize((m.max_tokens() + 2) * std::max<size_t>(m.slot_radius(), 1));
  hit.reserve(m.max_tokens() * m.n_slot_labels());
  seen.reserve(m.slot_names().size());
  case_flags.resize(m.max_tokens());
  spans.reserve(64);
  token.reserve(64);
}

IntentModel IntentModel::load(const std::string& path) { return IntentModel(ModelFile::load(path)); }

IntentModel::IntentModel(const ModelFile& f) {
  const std::string& src = f.source();
  const std::string& kind = f.get_str("general.kind");
  if (kind != "intent") throw FormatError(src + ": general.kind is '" + shown(kind) + "', expected 'intent'");
  const std::vector<std::string>& tokens = f.get_str_array("tokenizer.vocab");
  {  // the Vocabulary's own checks, here with the file named and the tokens shown escaped
    static const char* specials[] = {"<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>"};
    if (tokens.size() < size_t(N_SPECIALS))
      throw FormatError(src + ": tokenizer.vocab has " + std::to_string(tokens.size()) +
                        " entries, expected at least the " + std::to_string(N_SPECIALS) + " specials");
    for (size_t i = 0; i < size_t(N_SPECIALS); ++i)
      if (tokens[i] != specials[i])
        throw FormatError(src + ": tokenizer.vocab[" + std::to_string(i) + "] is '" + shown(tokens[i]) +
                          "', expected '" + specials[i] + "'");
    std::unordered_map<std::string, size_t> first;
    first.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto it = first.emplace(tokens[i], i);
      if (!it.second)
        throw FormatError(src + ": tokenizer.vocab has the token '" + shown(tokens[i]) + "' twice (ids " +
                          std::to_string(it.first->second) + " and " + std::to_string(i) + ")");
    }
  }
  vocab_ = Vocabulary(tokens);
  if (f.has("tokenizer.aliases") || f.has("tokenizer.alias_ids")) {  // export/intent_check.py _check_aliases
    const std::vector<std::string>& words = f.get_str_array("tokenizer.aliases");
    const MetaValue& idv = f.meta("tokenizer.alias_ids");
    if (idv.type != MetaType::U32_ARRAY)
      throw FormatError(src + ": metadata 'tokenizer.alias_ids' is " + meta_type_name(idv.type) +
                        ", expected U32_ARRAY");
    const std::vector<uint32_t>& ids = idv.u32_array;
    if (words.size() != ids.size())
      throw FormatError(src + ": tokenizer.aliases has " + std::to_string(words.size()) +
                        " entries but tokenizer.alias_ids " + std::to_string(ids.size()));
    std::unordered_map<std::string, size_t> seen;
    seen.reserve(words.size());
    for (size_t k = 0; k < words.size(); ++k) {
      const std::string& w = words[k];
      if (w.empty() || vocab_.contains(w) || !seen.emplace(w, k).second)
        throw FormatError(src + ": tokenizer.aliases[" + std::to_string(k) + "] '" + shown(w) +
                          "' is empty, a token or repeated, expected a new word");
      if (ids[k] < uint32_t(N_SPECIALS) || ids[k] >= tokens.size())
        throw FormatError(src + ": tokenizer.alias_ids[" + std::to_string(k) + "] is " + std::to_string(ids[k]) +
                          ", expected a word id in [" + std::to_string(N_SPECIALS) + ", " +
                          std::to_string(tokens.size()) + ")");
    }
    vocab_.set_aliases(words, ids);
  }
  N_ = vocab_.size();
  D_ = f.get_u32("model.dim");
  max_tokens_ = f.get_u32("tokenizer.max_tokens");
  r_ = f.get_u32("slot.radius");
  B_ = f.get_u32_or("intent.bigram_buckets", 0);
  if (D_ == 0 || D_ > 65536) throw ShapeError(src + ": model.dim is " + std::to_string(D_) + ", expected 1..65536");
  if (max_tokens_ == 0 || max_tokens_ > 65536)
    throw ShapeError(src + ": tokenizer.max_tokens is " + std::to_string(max_tokens_) + ", expected 1..65536");
  if (r_ > 64) throw ShapeError(src + ": slot.radius is " + std::to_string(r_) + ", expected 0..64");
  if (B_ > (1u << 24)) throw ShapeError(src + ": intent.bigram_buckets is " + std::to_string(B_) + ", expected <= 2^24");
  Ks_ = 2 * r_ + 1;
  Ki_ = max_tokens_ + 2;
  intent_labels_ = f.get_str_array("intent.labels");
  slot_labels_ = f.get_str_array("slot.labels");
  C_ = intent_labels_.size();
  none_index_ = size_t(std::find(intent_labels_.begin(), intent_labels_.end(), "<none>") - intent_labels_.begin());
  S_ = slot_labels_.size();
  if (C_ == 0) throw ShapeError(src + ": intent.labels is empty");
  if (S_ == 0 || slot_labels_[0] != "O") throw ShapeError(src + ": slot.labels must start with 'O'");
  threshold_ = float(f.get_float("intent.threshold"));
  if (!(threshold_ >= 0.0f && threshold_ <= 1.0f)) {  // NaN fails both comparisons
    char buf[64];
    if (std::isnan(threshold_)) std::snprintf(buf, sizeof buf, "NaN");
    else std::snprintf(buf, sizeof buf, "%g", double(threshold_));
    throw FormatError(src + ": intent.threshold is " + buf + ", expected a probability in 0..1");
  }

  // Slot labels: "O", "B-x", "I-x".
  for (const std::string& lab : slot_labels_) {
    if (lab == "O") { label_kind_.push_back(0); label_slot_.push_back(-1); continue; }
    if (lab.size() < 3 || (lab[0] != 'B' && lab[0] != 'I') || lab[1] != '-')
      throw FormatError(src + ": slot label '" + shown(lab) + "' is not O, B-<slot> or I-<slot>");
    std::string name = lab.substr(2);
    auto it = std::find(slot_names_.begin(), slot_names_.end(), name);
    if (it == slot_names_.end()) it = slot_names_.insert(slot_names_.end(), name);
    label_kind_.push_back(lab[0] == 'B' ? 1 : 2);
    label_slot_.push_back(int32_t(it - slot_names_.begin()));
  }
  if (f.has("slot.synonyms")) {
    for (const std::string& e : f.get_str_array("slot.synonyms")) {
      size_t t1 = e.find('\t');
      size_t t2 = t1 == std::string::npos ? t1 : e.find('\t', t1 + 1);
      if (t2 == std::string::npos || e.find('\t', t2 + 1) != std::string::npos)
        throw FormatError(src + ": slot.synonyms entry '" + shown(e) + "' is not slot\\tsurface\\tvalue");
      synonyms_.emplace(e.substr(0, t2), e.substr(t2 + 1));  // key "slot\tsurface"; first entry wins
    }
  }
  for (const std::string& k : f.meta_keys())
    if (f.meta(k).type == MetaType::STR) meta_strings_[k] = f.get_str(k);

  // Weights (shapes from docs/intent_model.md).
  uint64_t N = N_, D = D_, Ks = Ks_, Ki = Ki_, B = B_, C = C_, S = S_;
  R_ = load_f32(f, "token_table", {N, D}, true);
  slot_W_ = load_f32(f, "slot_W", {Ks, Ks}, false);
  std::vector<float> slot_U = load_f32(f, "slot_U", {Ks * D + N, S}, true);
  slot_b_ = load_f32(f, "slot_b", {S}, false);
  intent_W_ = load_f32(f, "intent_W", {Ki, Ki}, false);
  std::vector<float> intent_U = load_f32(f, "intent_U", {N + B + 2 * D, C}, true);
  intent_b_ = load_f32(f, "intent_b", {C}, false);
  // Read only to build the label groups below: the intents' allowed labels (empty = all allowed),
  // BIO's legal steps and the transition scores, each (S+1, S) with row 0 = start, row p+1 = after p.
  std::vector<float> slot_allowed;
  if (f.has_tensor("slot_allowed")) slot_allowed = load_f32(f, "slot_allowed", {C, S}, false);

  // BIO: I-x only after B-x or I-x (row 0 = start of the utterance, row p+1 = after label p).
  std::vector<uint8_t> slot_legal((S_ + 1) * S_, 1);
  for (size_t t = 0; t < S_; ++t) {
    if (label_kind_[t] != 2) continue;
    slot_legal[t] = 0;
    for (size_t p = 0; p < S_; ++p)
      slot_legal[(p + 1) * S_ + t] = label_kind_[p] != 0 && label_slot_[p] == label_slot_[t] ? 1 : 0;
  }
  std::vector<float> slot_trans = f.has_tensor("slot_transitions")
                                      ? load_f32(f, "slot_transitions", {S + 1, S}, false)
                                      : std::vector<float>((S_ + 1) * S_, 0.0f);
  if (f.has_tensor("slot_case")) slot_case_ = load_f32(f, "slot_case", {kCaseFeatures, S}, false);
  // The intents' label groups (see LabelGroup): a label outside an intent's group scores -inf at
  // every position, so Viterbi over the group finds the same path, ties included, as over all S.
  const double kNeg = -std::numeric_limits<double>::infinity();
  intent_group_.assign(C_, 0);
  for (size_t c = 0; c < C_; ++c) {
    std::vector<uint32_t> labels;
    for (size_t t = 0; t < S_; ++t)
      if (t == 0 || slot_allowed.empty() || slot_allowed[c * S_ + t] > 0.0f) labels.push_back(uint32_t(t));
    size_t g = 0;
    while (g < label_groups_.size() && label_groups_[g].labels != labels) ++g;
    if (g == label_groups_.size()) {
      LabelGroup grp;
      size_t U = labels.size();
      auto score = [&](size_t row, size_t t) {  // row 0 = start, row p+1 = after label p
        return slot_legal[row * S_ + t] ? double(slot_trans[row * S_ + t]) : kNeg;
      };
      grp.start.resize(U);
      grp.into.push_back(0);
      for (size_t u = 0; u < U; ++u) {
        grp.start[u] = score(0, labels[u]);
        for (size_t w = 0; w < U; ++w) {
          double v = score(size_t(labels[w]) + 1, labels[u]);
          if (v == kNeg) continue;
          grp.from.push_back(uint32_t(w));
          grp.score.push_back(v);
        }
        grp.into.push_back(uint32_t(grp.from.size()));
      }
      grp.labels = std::move(labels);
      label_groups_.push_back(std::move(grp));
    }
    intent_group_[c] = uint32_t(g);
  }
  // Known slot values (decoding evidence): "slot\tsurface", surface = tokens joined by one space.
  if (f.has("slot.values")) {
    std::unordered_map<uint64_t, uint32_t> edges;  // (node << 32 | id) -> child, below the root
    for (const std::string& e : f.get_str_array("slot.values")) {
      size_t tab = e.find('\t');
      std::string name = tab == std::string::npos ? std::string() : e.substr(0, tab);
      auto b = std::find(slot_labels_.begin(), slot_labels_.end(), "B-" + name);
      auto in = std::find(slot_labels_.begin(), slot_labels_.end(), "I-" + name);
      if (tab == std::string::npos || tab + 1 == e.size() || e.find('\t', tab + 1) != std::string::npos ||
          b == slot_labels_.end() || in == slot_labels_.end())
        throw FormatError(src + ": slot.values entry '" + shown(e) + "' is not slot\\tsurface with a slot of slot.labels");
      if (value_ends_.empty()) {
        value_ends_.emplace_back();  // the root
        value_roots_.assign(N_, 0);
      }
      uint32_t node = 0;
      size_t pos = tab + 1;
      while (true) {
        size_t sp = e.find(' ', pos);
        int32_t id = vocab_.lookup(e.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos));
        uint32_t child = node == 0 ? value_roots_[size_t(id)] : 0;
        if (node != 0) {
          auto edge = edges.find((uint64_t(node) << 32) | uint32_t(id));
          if (edge != edges.end()) child = edge->second;
        }
        if (child == 0) {
          child = uint32_t(value_ends_.size());
          value_ends_.emplace_back();
          if (node == 0) value_roots_[size_t(id)] = child;
          else edges.emplace((uint64_t(node) << 32) | uint32_t(id), child);
        }
        node = child;
        if (sp == std::string::npos) break;
        pos = sp + 1;
      }
      value_ends_[node].emplace_back(int32_t(b - slot_labels_.begin()), int32_t(in - slot_labels_.begin()));
    }
    std::vector<std::pair<uint64_t, uint32_t>> sorted(edges.begin(), edges.end());  // by node, then id
    std::sort(sorted.begin(), sorted.end());
    value_child_begin_.assign(value_ends_.size() + 1, 0);
    for (const auto& e : sorted) ++value_child_begin_[size_t(e.first >> 32) + 1];
    for (size_t k = 1; k < value_child_begin_.size(); ++k) value_child_begin_[k] += value_child_begin_[k - 1];
    for (const auto& e : sorted) {
      value_child_id_.push_back(int32_t(uint32_t(e.first)));
      value_child_node_.push_back(e.second);
    }
    float bonus = f.has("slot.value_bonus") ? float(f.get_float("slot.value_bonus")) : 0.0f;
    if (!(bonus >= 0.0f && bonus <= 100.0f))
      throw FormatError(src + ": slot.value_bonus is not in 0..100");
    value_bonus_ = double(bonus);
  }
  // Slots whose spans end before a final "'s" of their last token.
  trim_possessive_.assign(slot_names_.size(), 0);
  if (f.has("slot.trim_possessive")) {
    for (const std::string& e : f.get_str_array("slot.trim_possessive")) {
      auto it = std::find(slot_names_.begin(), slot_names_.end(), e);
      if (it == slot_names_.end())
        throw FormatError(src + ": slot.trim_possessive entry '" + shown(e) + "' is not a slot of slot.labels");
      trim_possessive_[size_t(it - slot_names_.begin())] = 1;
    }
  }

  // Closed-list slots, "slot\tvalue" (models/slot_values.py): checked here, read by Python only.
  if (f.has("slot.closed")) {
    for (const std::string& e : f.get_str_array("slot.closed")) {
      size_t tab = e.find('\t');
      std::string name = tab == std::string::npos ? std::string() : e.substr(0, tab);
      if (tab == std::string::npos || tab + 1 == e.size() || e.find('\t', tab + 1) != std::string::npos ||
          std::find(slot_names_.begin(), slot_names_.end(), name) == slot_names_.end())
        throw FormatError(src + ": slot.closed entry '" + shown(e) + "' is not slot\\tvalue with a slot of slot.labels");
    }
  }

  slot_id_.assign(slot_U.begin() + ptrdiff_t(Ks * D * S), slot_U.end());
  for (size_t t = 0; t < N_; ++t)  // the bias added once here: the same float sums as per position
    for (size_t s = 0; s < S_; ++s) slot_id_[t * S_ + s] += slot_b_[s];
  slot_U_window_.assign(slot_U.begin(), slot_U.begin() + ptrdiff_t(Ks * D * S));
  intent_bow_.assign(intent_U.begin(), intent_U.begin() + ptrdiff_t(N * C));
  intent_big_.assign(intent_U.begin() + ptrdiff_t(N * C), intent_U.begin() + ptrdiff_t((N + B) * C));
  intent_U_rows_.assign(intent_U.begin() + ptrdiff_t((N + B) * C), intent_U.end());

  // Caches: sized here, each token's rows filled when a forward pass first meets it (fill_token).
  cmp_sod_.allocate(N_);
  cmp_self_.allocate(N_);
  top_ = std::min(N_, kTopTypes);
  cmp_top_.allocate(top_ * top_);
  slot_proj_.allocate(Ks_ * N_ * S_);
  intent_row_proj_.allocate(N_ * C_);
  intent_att_proj_.allocate(N_ * C_);
  filled_.reset(new std::atomic<uint8_t>[N_]);
  for (size_t t = 0; t < N_; ++t) filled_[t].store(0, std::memory_order_relaxed);
  fill_mutex_.reset(new std::mutex);
}

void IntentModel::fill_token(int32_t id) const {
  size_t t = size_t(id);
  if (filled_[t].load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(*fill_mutex_);
  if (filled_[t].load(std::memory_order_relaxed)) return;  // another thread filled it meanwhile
  const float* r = &R_[t * D_];
  cmp_sod_[t] = dot(r, &R_[SOD * D_], D_);
  cmp_self_[t] = dot(r, r, D_);
  if (t < top_)
    for (size_t u = 0; u < top_; ++u) cmp_top_[t * top_ + u] = dot(r, &R_[u * D_], D_);
  std::vector<double> acc(std::max(S_, C_));
  for (size_t k = 0; k < Ks_; ++k)
    project_row(r, D_, slot_U_window_.data(), k * D_, S_, acc.data(), &slot_proj_[(t * Ks_ + k) * S_]);
  project_row(r, D_, intent_U_rows_.data(), 0, C_, acc.data(), &intent_row_proj_[t * C_]);
  project_row(r, D_, intent_U_rows_.data(), D_, C_, acc.data(), &intent_att_proj_[t * C_]);
  filled_[t].store(1, std::memory_order_release);
}

size_t IntentModel::memory_bytes() const {
  size_t floats = R_.size() + slot_W_.size() + slot_id_.size() + slot_U_window_.size() + slot_b_.size() + slot_case_.size() +
                  intent_W_.size() + intent_bow_.size() + intent_big_.size() + intent_U_rows_.size() +
                  intent_b_.size() + cmp_sod_.size() + cmp_self_.size() + cmp_top_.size() + slot_proj_.size() +
                  intent_row_proj_.size() + intent_att_proj_.size();
  size_t groups = 0;
  for (const LabelGroup& g : label_groups_)
    groups += (g.labels.size() + g.into.size() + g.from.size()) * sizeof(uint32_t) +
              (g.start.size() + g.score.size()) * sizeof(double);
  return floats * sizeof(float) + groups;
}

namespace {

// max over i of x[i] + y[i] (no NaN), in SSE2 pairs where there is SSE2: maximum is exact and
// _mm_max_pd(a, b) is a > b ? a : b, so the value is the same with or without.
double max_of_sums(const double* x, const double* y, size_t n) {
  double m = -std::numeric_limits<double>::infinity();
  size_t i = 0;
#if defined(__SSE2__)
  __m128d m0 = _mm_set1_pd(m), m1 = m0;
  for (; i + 4 <= n; i += 4) {
    m0 = _mm_max_pd(_mm_add_pd(_mm_loadu_pd(x + i), _mm_loadu_pd(y + i)), m0);
    m1 = _mm_max_pd(_mm_add_pd(_mm_loadu_pd(x + i + 2), _mm_loadu_pd(y + i + 2)), m1);
  }
  double lanes[2];
  _mm_storeu_pd(lanes, _mm_max_pd(m0, m1));
  m = lanes[0] > lanes[1] ? lanes[0] : lanes[1];
#endif
  for (; i < n; ++i) {
    double v = x[i] + y[i];
    m = v > m ? v : m;
  }
  return m;
}

}  // namespace

uint32_t IntentModel::value_child(uint32_t node, int32_t id) const {
  const int32_t* first = value_child_id_.data() + value_child_begin_[node];
  const int32_t* last = value_child_id_.data() + value_child_begin_[node + 1];
  const int32_t* it = std::lower_bound(first, last, id);
  return it != last && *it == id ? value_child_node_[size_t(it - value_child_id_.data())] : 0;
}

float IntentModel::compare(int32_t s, int32_t t) const {
  if (size_t(s) < top_ && size_t(t) < top_) return cmp_top_[size_t(s) * top_ + size_t(t)];
  return dot(&R_[size_t(s) * D_], &R_[size_t(t) * D_], D_);
}

// ---- forward ----

void IntentModel::intent_forward(const int32_t* seq, size_t L, IntentWorkspace& ws, float* p) const {
  float* logits = ws.logits.data();
  for (size_t c = 0; c < C_; ++c) logits[c] = 0.0f;
  // f_bow and f_row: mean over positions of U_bow rows and projected R rows.
  for (size_t j = 0; j < L; ++j) {
    const float* bow = &intent_bow_[size_t(seq[j]) * C_];
    const float* row = &intent_row_proj_[size_t(seq[j]) * C_];
    for (size_t c = 0; c < C_; ++c) logits[c] += bow[c] + row[c];
  }
  float invL = 1.0f / float(L);
  for (size_t c = 0; c < C_; ++c) logits[c] *= invL;
  // f_big: hashed bigrams, each 1/(L-1).
  if (B_ > 0) {
    float invL1 = 1.0f / float(L - 1);
    for (size_t j = 0; j + 1 < L; ++j) {
      uint64_t h = (uint64_t(seq[j]) * 1000003ull + uint64_t(seq[j + 1])) % uint64_t(B_);
      const float* big = &intent_big_[size_t(h) * C_];
      for (size_t c = 0; c < C_; ++c) logits[c] += big[c] * invL1;
    }
  }
  // f_att: the intent SAFU with head <sod> (position 0) over the L valid positions.
  float* q = ws.q.data();
  float* z = ws.z.data();
  float* a = ws.a.data();
  for (size_t k = 0; k < L; ++k) q[k] = cmp_sod_[size_t(seq[k])];
  for (size_t i = 0; i < L; ++i) {
    float s = 0.0f;
    for (size_t k = 0; k < L; ++k) s += q[k] * intent_W_[k * Ki_ + i];
    z[i] = s;
  }
  float sum_a = neg_log_softmax(z, L, a);
  float inv_sum_a = sum_a > 0.0f ? 1.0f / sum_a : 0.0f;
  for (size_t k = 0; k < L; ++k) {
    const float* att = &intent_att_proj_[size_t(seq[k]) * C_];
    float w = a[k] * inv_sum_a;
    for (size_t c = 0; c < C_; ++c) logits[c] += w * att[c];
  }
  for (size_t c = 0; c < C_; ++c) p[c] = logits[c] + intent_b_[c];
  softmax_inplace(p, C_);
}

void IntentModel::slot_forward(const int32_t* seq, size_t L, size_t j, IntentWorkspace& ws, float* p,
                               bool logits_only) const {
  float* q = ws.q.data();
  float* z = ws.z.data();
  float* a = ws.a.data();
  int32_t window[2 * 64 + 1];  // K_s <= 129: slot.radius is checked <= 64 at load
  for (size_t k = 0; k < Ks_; ++k) {
    ptrdiff_t pos = ptrdiff_t(j) - ptrdiff_t(r_) + ptrdiff_t(k);
    window[k] = (pos < 0 || pos >= ptrdiff_t(L)) ? int32_t(PAD) : seq[pos];
  }
  // compare(window[k], head), read from the sentence's near comparisons (compare is symmetric:
  // the same products summed in the same order); PAD only at the ends.
  int32_t head = window[r_];
  const float* near = ws.near.data();
  for (size_t k = 0; k < Ks_; ++k) {
    ptrdiff_t pos = ptrdiff_t(j) - ptrdiff_t(r_) + ptrdiff_t(k);
    if (pos < 0 || pos >= ptrdiff_t(L)) q[k] = compare(int32_t(PAD), head);
    else if (size_t(pos) == j) q[k] = cmp_self_[size_t(head)];
    else if (size_t(pos) < j) q[k] = near[size_t(pos) * r_ + (j - size_t(pos) - 1)];
    else q[k] = near[j * r_ + (size_t(pos) - j - 1)];
  }
  for (size_t i = 0; i < Ks_; ++i) {
    float s = 0.0f;
    for (size_t k = 0; k < Ks_; ++k) s += q[k] * slot_W_[k * Ks_ + i];
    z[i] = s;
  }
  neg_log_softmax(z, Ks_, a);
  // p = (id_row + b) + a[0] proj_0 + ... + a[K-1] proj_{K-1}, added in that order, eight labels
  // at a time held in registers (one pass over p instead of K).
  const float* id_row = &slot_id_[size_t(seq[j]) * S_];
  const float* proj[2 * 64 + 1];
  for (size_t k = 0; k < Ks_; ++k) proj[k] = &slot_proj_[(size_t(window[k]) * Ks_ + k) * S_];
  auto block = [&](size_t s0) {
    float acc[8];
    for (size_t i = 0; i < 8; ++i) acc[i] = id_row[s0 + i];
    for (size_t k = 0; k < Ks_; ++k)
      for (size_t i = 0; i < 8; ++i) acc[i] += a[k] * proj[k][s0 + i];
    for (size_t i = 0; i < 8; ++i) p[s0 + i] = acc[i];
  };
  size_t s0 = 0;
  for (; s0 + 8 <= S_; s0 += 8) block(s0);
  if (s0 < S_ && S_ >= 8) {  // the last eight labels, some of them again (the same sums)
    block(S_ - 8);
    s0 = S_;
  }
  for (size_t s = s0; s < S_; ++s) {
    float v = id_row[s];
    for (size_t k = 0; k < Ks_; ++k) v += a[k] * proj[k][s];
    p[s] = v;
  }
  if (!logits_only) softmax_inplace(p, S_);
}

void IntentModel::forward(const int32_t* ids, size_t n, IntentWorkspace& ws, float* p_intent, float* p_slot) const {
  forward_impl(ids, n, ws, p_intent, p_slot, false);
}

void IntentModel::forward_impl(const int32_t* ids, size_t n, IntentWorkspace& ws, float* p_intent, float* p_slot,
                               bool slot_logits_only) const {
  size_t L = begin_forward(ids, n, ws);
  intent_forward(ws.seq.data(), L, ws, p_intent);
  check_finite_output(p_intent, C_);
  slots_forward(L, ws, p_slot, slot_logits_only);
}

// Finite weights (checked at load) can still overflow float32 on an input; never answer NaN.
void IntentModel::check_finite_output(const float* p, size_t count) const {
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(p[i])) throw_non_finite();
}

void IntentModel::throw_non_finite() {
  throw FormatError("forward: non-finite probabilities (the model's weights overflow float32 on this input)");
}

// The sequence <sod> ids <eod> in ws.seq (ids checked), its tokens' cache rows filled; returns L.
size_t IntentModel::begin_forward(const int32_t* ids, size_t n, IntentWorkspace& ws) const {
  if (n > max_tokens_)
    throw ShapeError("forward: " + std::to_string(n) + " ids, the model takes at most tokenizer.max_tokens = " +
                     std::to_string(max_tokens_));
  int32_t* seq = ws.seq.data();
  seq[0] = SOD;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || size_t(ids[i]) >= N_)
      throw ShapeError("forward: id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                       " is outside the vocabulary [0, " + std::to_string(N_) + ")");
    seq[i + 1] = ids[i];
  }
  size_t L = n + 2;
  seq[L - 1] = EOD;
  for (size_t k = 0; k < L; ++k) fill_token(seq[k]);
  fill_token(PAD);  // the slot windows' padding
  return L;
}

// p_slot (L-2, S) for the sequence begin_forward left in ws.seq.
void IntentModel::slots_forward(size_t L, IntentWorkspace& ws, float* p_slot, bool logits_only) const {
  const int32_t* seq = ws.seq.data();
  float* near = ws.near.data();
  for (size_t i = 0; i < L; ++i)
    for (size_t d = 1; d <= r_ && i + d < L; ++d) near[i * r_ + d - 1] = compare(seq[i], seq[i + d]);
  for (size_t j = 1; j + 1 < L; ++j) slot_forward(seq, L, j, ws, p_slot + (j - 1) * S_, logits_only);
  check_finite_output(p_slot, (L - 2) * S_);
}

// ---- predict ----

size_t IntentModel::encode(const std::string& text, IntentWorkspace& ws, std::vector<int32_t>* ids_out,
                           bool* truncated) const {
  tokenize(text, ws.spans);
  if (truncated) *truncated = ws.spans.size() > max_tokens_;
  size_t n = std::min(ws.spans.size(), max_tokens_);
  ws.spans.resize(n);
  for (size_t i = 0; i < n; ++i) {
    token_text(text.data(), ws.spans[i], ws.token);
    ws.ids[i] = vocab_.lookup(ws.token);
  }
  if (!slot_case_.empty()) case_flags(text, ws.spans.data(), n, ws.case_flags.data());
  if (ids_out) ids_out->assign(ws.ids.begin(), ws.ids.begin() + ptrdiff_t(n));
  return n;
}

Prediction IntentModel::predict(const std::string& text, IntentWorkspace& ws) const {
  Prediction out;
  size_t n = encode(text, ws, nullptr, &out.truncated);
  if (n == 0) {
    out.reason = "empty input: no words to understand";
    return out;
  }
  // The intent first: a rejected utterance, or an intent whose only slot label is O, needs no
  // slot pass (the answer is the same; forward() still computes and checks every probability).
  size_t L = begin_forward(ws.ids.data(), n, ws);
  intent_forward(ws.seq.data(), L, ws, ws.p_intent.data());
  check_finite_output(ws.p_intent.data(), C_);
  size_t best = size_t(std::max_element(ws.p_intent.begin(), ws.p_intent.end()) - ws.p_intent.begin());
  out.intent = intent_labels_[best];
  out.intent_index = int32_t(best);
  out.confidence = ws.p_intent[best];
  out.has_intent = out.confidence >= threshold_;
  if (best == none_index_) {  // an explicit out-of-scope class <none> (docs/intent_model.md)
    char buf[128];
    std::snprintf(buf, sizeof buf, "out of scope: the model's <none> class is the best match (%.3f)",
                  double(out.confidence));
    out.has_intent = false;
    out.reason = buf;
    return out;
  }
  if (!out.has_intent) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "out of scope: confidence %.3f below the model's threshold %.3f",
                  double(out.confidence), double(threshold_));
    out.reason = buf;
    return out;  // no slots for a rejected utterance
  }

  if (label_groups_[intent_group_[best]].labels.size() == 1) return out;  // O everywhere: no spans
  slot_log_probs(L, best, ws);
  // Spans: runs of B-x I-x* in the Viterbi labels; the first span of a slot name wins.
  viterbi_lp(ws.ids.data(), n, best, ws, ws.label.data());
  std::vector<uint8_t>& seen = ws.seen;  // slot names already given a span
  seen.assign(slot_names_.size(), 0);
  out.spans.reserve(std::min(n, slot_names_.size()));
  for (size_t i = 0; i < n;) {
    int32_t lab = ws.label[i];
    if (label_kind_[size_t(lab)] == 0) { ++i; continue; }
    int32_t slot = label_slot_[size_t(lab)];
    size_t first = i++;
    while (i < n && label_kind_[size_t(ws.label[i])] == 2 && label_slot_[size_t(ws.label[i])] == slot) ++i;
    size_t last = i - 1;
    if (seen[size_t(slot)]) continue;
    seen[size_t(slot)] = 1;
    SlotSpan sp;
    sp.name = slot_names_[size_t(slot)];
    sp.slot = slot;
    sp.start = ws.spans[first].start;
    sp.end = ws.spans[last].end;
    if (trim_possessive_[size_t(slot)] && sp.end - ws.spans[last].start > 2 && text[sp.end - 2] == '\'' &&
        (text[sp.end - 1] == 's' || text[sp.end - 1] == 'S'))
      sp.end -= 2;  // the slot's training spans leave a possessive "'s" out
    sp.text = text.substr(sp.start, sp.end - sp.start);
    auto it = synonyms_.end();
    if (!synonyms_.empty()) {
      std::string key = sp.name + "\t";
      for (size_t k = first; k <= last; ++k) {
        token_text(text.data(), ws.spans[k], ws.token);
        key += (k > first ? " " : "") + ws.token;
      }
      it = synonyms_.find(key);
    }
    sp.value = it != synonyms_.end() ? it->second : sp.text;
    out.spans.push_back(std::move(sp));
  }
  return out;
}

void IntentModel::viterbi(const int32_t* ids, const float* p_slot, size_t n, size_t c, IntentWorkspace& ws,
                          int32_t* labels_out) const {
  if (n == 0) return;
  if (n > max_tokens_)
    throw ShapeError("viterbi: " + std::to_string(n) + " tokens, the model takes at most tokenizer.max_tokens = " +
                     std::to_string(max_tokens_));
  if (c >= C_) throw ShapeError("viterbi: intent " + std::to_string(c) + " is outside [0, " + std::to_string(C_) + ")");
  const LabelGroup& grp = label_groups_[intent_group_[c]];
  const uint32_t* use = grp.labels.data();
  const size_t U = grp.labels.size();
  double* lp = ws.lp.data();
  for (size_t j = 0; j < n; ++j)
    for (size_t u = 0; u < U; ++u) lp[j * U + u] = std::log(std::max(double(p_slot[j * S_ + use[u]]), 1e-30));
  viterbi_lp(ids, n, c, ws, labels_out);
}

// ws.lp (n, U) <- log max(p_slot, 1e-30) over intent c's labels plus a constant per token, for the
// sequence begin_forward left in ws.seq. Viterbi's path does not change when a token's scores all
// move by one constant (every path takes one label per token), so where no label of the group can
// be near the floor (z - max z >= log 1e-30 + log S + 1, and log sum exp z <= max z + log S) the
// scores are z - max z and the S exps are skipped; elsewhere they are the log softmax,
// z - log sum exp(z) over all S logits, floored (the log of forward()'s probability).
void IntentModel::slot_log_probs(size_t L, size_t c, IntentWorkspace& ws) const {
  const int32_t* seq = ws.seq.data();
  float* near = ws.near.data();
  for (size_t i = 0; i < L; ++i)
    for (size_t d = 1; d <= r_ && i + d < L; ++d) near[i * r_ + d - 1] = compare(seq[i], seq[i + d]);
  const LabelGroup& grp = label_groups_[intent_group_[c]];
  const uint32_t* use = grp.labels.data();
  const size_t U = grp.labels.size();
  const double log_floor = std::log(1e-30);
  const float clear_of_floor = float(log_floor + std::log(double(S_)) + 1.0);
  float* z = ws.logits.data();
  double* lp = ws.lp.data();
  for (size_t j = 1; j + 1 < L; ++j) {
    slot_forward(seq, L, j, ws, z, true);
    double* row = &lp[(j - 1) * U];
    if (all_finite(z, S_)) {
      float m = max_of(z, S_), low = m;
      for (size_t u = 0; u < U; ++u) low = z[use[u]] < low ? z[use[u]] : low;
      if (low - m >= clear_of_floor) {
        for (size_t u = 0; u < U; ++u) row[u] = double(z[use[u]]) - double(m);
        continue;
      }
    }
    double lse = log_sum_exp(z, S_);
    if (!std::isfinite(lse)) throw_non_finite();  // exactly when softmax(z) has a non-finite entry
    for (size_t u = 0; u < U; ++u) row[u] = std::max(double(z[use[u]]) - lse, log_floor);
  }
}

// Viterbi over intent c's labels on ws.lp (n, U) as slot_log_probs or viterbi leaves it.
void IntentModel::viterbi_lp(const int32_t* ids, size_t n, size_t c, IntentWorkspace& ws, int32_t* labels_out) const {
  const double kNeg = -std::numeric_limits<double>::infinity();
  const LabelGroup& grp = label_groups_[intent_group_[c]];
  const uint32_t* use = grp.labels.data();
  const size_t U = grp.labels.size();
  const double* start = grp.start.data();
  // lp (n, U) = log max(p, 1e-30) + evidence: a bonus where a run of ids is a known value of the slot
  double* lp = ws.lp.data();
  if (!value_ends_.empty()) {
    std::vector<uint8_t>& hit = ws.hit;
    hit.assign(n * S_, 0);
    for (size_t a = 0; a < n; ++a) {
      uint32_t node = value_roots_[size_t(ids[a])];
      for (size_t m = 1; node != 0; ++m) {
        for (const auto& lab : value_ends_[node]) {
          hit[a * S_ + size_t(lab.first)] = 1;
          for (size_t k = 1; k < m; ++k) hit[(a + k) * S_ + size_t(lab.second)] = 1;
        }
        if (a + m == n) break;
        node = value_child(node, ids[a + m]);
      }
    }
  }
  // lp += (value bonus + letter-case scores), the evidence summed first as docs/intent_model.md has it
  // (a token with no case flags gets the bonus alone, only where a value matches).
  const bool values = !value_ends_.empty(), cased = !slot_case_.empty();
  if (values || cased) {
    for (size_t j = 0; j < n; ++j) {
      const uint8_t flags = cased ? ws.case_flags[j] : 0;
      const uint8_t* hit = values ? &ws.hit[j * S_] : nullptr;
      double* row = &lp[j * U];
      if (!flags) {
        if (hit)
          for (size_t u = 0; u < U; ++u)
            if (hit[use[u]]) row[u] += value_bonus_;
        continue;
      }
      for (size_t u = 0; u < U; ++u) {
        double e = hit && hit[use[u]] ? value_bonus_ : 0.0;
        double c = 0.0;
        for (size_t k = 0; k < kCaseFeatures; ++k)
          if ((flags >> k) & 1) c += double(slot_case_[k * S_ + use[u]]);
        e += c;
        row[u] += e;
      }
    }
  }
  // delta / back over the group's labels (index u into use).
  double* delta = ws.delta.data();
  double* next = ws.delta_next.data();
  // Scores are finite or -inf (never +inf or NaN: weights checked at load, lp >= log 1e-30), so a
  // path through a -inf label never beats best: no test needed in the inner loop.
  for (size_t u = 0; u < U; ++u) delta[u] = start[u] + lp[u];
  for (size_t j = 1; j < n; ++j) {
    int32_t* back = &ws.back[j * S_];
    const double* lpj = &lp[j * U];
    for (size_t u = 0; u < U; ++u) {
      // The first step of highest score into u (the first is what a scan with > keeps).
      const uint32_t lo = grp.into[u], hi = grp.into[u + 1];
      double best = kNeg;
      int32_t arg = 0;
      if (hi - lo == U) {  // every label steps into u (O and B-x): from[lo + w] == w
        const double* score = &grp.score[lo];
        best = max_of_sums(delta, score, U);  // exact, so the scan below meets it
        if (best != kNeg)
          while (delta[arg] + score[arg] != best) ++arg;
      } else {
        for (uint32_t i = lo; i < hi; ++i) {
          double v = delta[grp.from[i]] + grp.score[i];
          if (v > best) { best = v; arg = int32_t(grp.from[i]); }
        }
      }
      back[u] = arg;
      next[u] = best == kNeg ? kNeg : best + lpj[u];
    }
    std::swap(delta, next);
  }
  size_t last = 0;
  for (size_t u = 1; u < U; ++u)
    if (delta[u] > delta[last]) last = u;
  labels_out[n - 1] = int32_t(last);
  for (size_t j = n - 1; j > 0; --j) labels_out[j - 1] = ws.back[j * S_ + size_t(labels_out[j])];
  for (size_t j = 0; j < n; ++j) labels_out[j] = int32_t(use[labels_out[j]]);
}

}  // namespace safu
