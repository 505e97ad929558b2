/* safu_mcu.c: tokenizer, forward pass and slot decoding of docs/intent_model.md in plain C99.
 *
 * Mirrors models/reference.py step by step (same names: f_bow, f_big, f_row, f_att, p_intent,
 * p_slot). The bag-of-words and bigram features are sparse, so instead of building H and
 * multiplying by intent_U we add the rows of intent_U they select (same sum, other order).
 * Build with -ffp-contract=off: then host and board results are identical bit for bit.
 */
#include "safu_mcu.h"

/* ---------------------------------------------------------------- exp / log without libm */

static float bits_to_float(uint32_t b) {
    union { uint32_t u; float f; } v;
    v.u = b;
    return v.f;
}

uint32_t safu_float_bits(float f) {
    union { uint32_t u; float f; } v;
    v.f = f;
    return v.u;
}

/* 2^k as a float for -126 <= k <= 127. */
static float pow2i(int32_t k) { return bits_to_float((uint32_t)(k + 127) << 23); }

/* exp(x): x = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), degree-7 Taylor for e^r.
 * Relative error about 2e-7; exactly the same operations on every target. */
float safu_expf(float x) {
    const float LOG2E = 1.44269504088896341f;
    const float LN2_HI = 0.693145751953125f;      /* 12 significant bits: k * LN2_HI is exact */
    const float LN2_LO = 1.42860682030941723e-06f;
    float t, r, p;
    int32_t k;
    if (x != x) return x;                          /* NaN */
    if (x > 88.72f) return bits_to_float(0x7f800000u);
    if (x < -103.9f) return 0.0f;
    t = x * LOG2E;
    k = (int32_t)(t >= 0.0f ? t + 0.5f : t - 0.5f);
    r = x - (float)k * LN2_HI;
    r = r - (float)k * LN2_LO;
    p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    if (k < -126) return (p * pow2i(k + 126)) * pow2i(-126);
    if (k > 127) return (p * pow2i(k - 1)) * 2.0f;
    return p * pow2i(k);
}

/* log(x) for x > 0: x = 2^e m, m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1). */
float safu_logf(float x) {
    const float LN2_HI = 0.693145751953125f;
    const float LN2_LO = 1.42860682030941723e-06f;
    uint32_t b;
    int32_t e;
    float m, f, s, s2, p;
    if (x != x || x < 0.0f) return bits_to_float(0x7fc00000u);
    if (x == 0.0f) return bits_to_float(0xff800000u);
    if (x == bits_to_float(0x7f800000u)) return x;
    e = 0;
    if (x < 1.17549435e-38f) { x = x * 8388608.0f; e = -23; }  /* subnormal: scale by 2^23 */
    b = safu_float_bits(x);
    e += (int32_t)((b >> 23) & 0xffu) - 127;
    m = bits_to_float((b & 0x007fffffu) | 0x3f800000u);          /* [1, 2) */
    if (m > 1.41421356f) { m = m * 0.5f; e += 1; }
    f = m - 1.0f;
    s = f / (2.0f + f);
    s2 = s * s;
    p = 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return (float)e * LN2_HI + ((float)e * LN2_LO + 2.0f * s * p);
}

/* out[i] = log_softmax(z)[i] = z_i - m - log(sum_k exp(z_k - m)) */
static void log_softmax(const float *z, float *out, int32_t n) {
    float m = z[0], sum = 0.0f, lse;
    int32_t i;
    for (i = 1; i < n; ++i)
        if (z[i] > m) m = z[i];
    for (i = 0; i < n; ++i) sum += safu_expf(z[i] - m);
    lse = m + safu_logf(sum);
    for (i = 0; i < n; ++i) out[i] = z[i] - lse;
}

static void softmax(const float *z, float *out, int32_t n) {
    int32_t i;
    log_softmax(z, out, n);
    for (i = 0; i < n; ++i) out[i] = safu_expf(out[i]);
}

/* ---------------------------------------------------------------- tensors (float32 or int8) */

/* R[t] (D floats), dequantised. */
static void token_row(int32_t t, float *out) {
    int32_t d;
#if SAFU_TOKEN_TABLE_I8
    const int8_t *q = safu_token_table + (size_t)t * SAFU_DIM;
    float sc = safu_token_table_scale[t];
    for (d = 0; d < SAFU_DIM; ++d) out[d] = (float)q[d] * sc;
#else
    const float *r = safu_token_table + (size_t)t * SAFU_DIM;
    for (d = 0; d < SAFU_DIM; ++d) out[d] = r[d];
#endif
}

/* acc[s] += c * slot_U[row, s] */
static void slot_u_axpy(int32_t row, float c, float *acc) {
    int32_t s;
#if SAFU_SLOT_U_I8
    const int8_t *q = safu_slot_U + (size_t)row * SAFU_N_SLOT_LABELS;
    float w = c * safu_slot_U_scale[row];   /* scale folded into the coefficient: one multiply per weight */
    for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) acc[s] += w * (float)q[s];
#else
    const float *u = safu_slot_U + (size_t)row * SAFU_N_SLOT_LABELS;
    for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) acc[s] += c * u[s];
#endif
}

/* acc[c] += w * intent_U[row, c] */
static void intent_u_axpy(int32_t row, float w, float *acc) {
    int32_t c;
#if SAFU_INTENT_U_I8
    const int8_t *q = safu_intent_U + (size_t)row * SAFU_N_INTENTS;
    float ws = w * safu_intent_U_scale[row];
    for (c = 0; c < SAFU_N_INTENTS; ++c) acc[c] += ws * (float)q[c];
#else
    const float *u = safu_intent_U + (size_t)row * SAFU_N_INTENTS;
    for (c = 0; c < SAFU_N_INTENTS; ++c) acc[c] += w * u[c];
#endif
}

static float dot(const float *a, const float *b, int32_t n) {
    float s = 0.0f;
    int32_t i;
    for (i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- tokenizer */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_word(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Compare the lower-cased token text[start, end) with a NUL-terminated vocabulary entry, as bytes. */
static int compare_token(const char *text, int32_t start, int32_t end, const char *entry) {
    int32_t i = start;
    const unsigned char *e = (const unsigned char *)entry;
    for (; i < end && *e; ++i, ++e) {
        unsigned char c = lower((unsigned char)text[i]);
        if (c != *e) return c < *e ? -1 : 1;
    }
    if (i < end) return 1;   /* token longer */
    if (*e) return -1;       /* entry longer */
    return 0;
}

/* Id of the token: binary search of the sorted tokens and aliases, else <num> / <unk>. */
static int32_t lookup(const char *text, int32_t start, int32_t end) {
    int32_t lo = 0, hi = SAFU_N_ENTRIES - 1, i, numeric = 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = compare_token(text, start, end, safu_vocab_text + safu_vocab_offset[mid]);
        if (c == 0) return (int32_t)safu_vocab_id[mid];
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    for (i = start; i < end; ++i) {
        unsigned char c = (unsigned char)text[i];
        if (!(is_digit(c) || c == '.' || c == ',')) { numeric = 0; break; }
    }
    return numeric ? SAFU_ID_NUM : SAFU_ID_UNK;
}

int32_t safu_tokenize(safu_state *st, const char *text, int32_t len) {
    int32_t i = 0, n = 0;
    while (i < len && n < SAFU_MAX_TOKENS) {
        int32_t start;
        if (!is_word((unsigned char)text[i])) { ++i; continue; }
        start = i++;
        while (i < len) {
            unsigned char c = (unsigned char)text[i];
            int next_ok = i + 1 < len;
            unsigned char prev = (unsigned char)text[i - 1];
            unsigned char next = next_ok ? (unsigned char)text[i + 1] : 0;
            if (is_word(c)) { ++i; continue; }
            if (c == '\'' && next_ok && is_word(prev) && is_word(next)) { ++i; continue; }
            if ((c == '.' || c == ',') && next_ok && is_digit(prev) && is_digit(next)) { ++i; continue; }
            break;
        }
        st->tok_start[n] = start;
        st->tok_end[n] = i;
        st->ids[n] = lookup(text, start, i);
        ++n;
    }
    st->n_tokens = n;
    return n;
}

/* ---------------------------------------------------------------- forward pass */

static void forward_intent(safu_state *st) {
    const int32_t n = st->n_tokens, L = n + 2;
    const float inv_l = 1.0f / (float)L;
    float *logits = st->intent_logits;
    float a_sum = 0.0f;
    int32_t j, k, i, d, c;

    for (c = 0; c < SAFU_N_INTENTS; ++c) logits[c] = 0.0f;
    /* f_bow @ intent_U[0:N]: f_bow[seq[j]] += 1/L */
    for (j = 0; j < L; ++j) intent_u_axpy(st->seq[j], inv_l, logits);
#if SAFU_BIGRAM_BUCKETS > 0
    /* f_big @ intent_U[N:N+B]: h = (seq[j] * 1000003 + seq[j+1]) mod B in 64-bit integers */
    {
        const float inv_l1 = 1.0f / (float)(L - 1);
        for (j = 0; j + 1 < L; ++j) {
            int64_t h = ((int64_t)st->seq[j] * 1000003 + (int64_t)st->seq[j + 1]) % SAFU_BIGRAM_BUCKETS;
            intent_u_axpy(SAFU_N_VOCAB + (int32_t)h, inv_l1, logits);
        }
    }
#endif
    /* f_row = mean_j R[seq[j]] */
    for (d = 0; d < SAFU_DIM; ++d) st->f_row[d] = 0.0f;
    for (j = 0; j < L; ++j) {
        token_row(st->seq[j], st->row_a);
        for (d = 0; d < SAFU_DIM; ++d) st->f_row[d] += st->row_a[d];
    }
    for (d = 0; d < SAFU_DIM; ++d) st->f_row[d] = st->f_row[d] / (float)L;
    /* f_att: intent SAFU over the L valid positions, head = position 0 */
    token_row(st->seq[0], st->row_b);
    for (k = 0; k < L; ++k) {
        token_row(st->seq[k], st->row_a);
        st->q[k] = dot(st->row_a, st->row_b, SAFU_DIM);
    }
    for (i = 0; i < L; ++i) {
        float z = 0.0f;
        for (k = 0; k < L; ++k) z += st->q[k] * safu_intent_W[k * SAFU_INTENT_K + i];
        st->z[i] = z;
    }
    log_softmax(st->z, st->q, L);                 /* q now holds log_softmax(z) */
    for (k = 0; k < L; ++k) { st->q[k] = -st->q[k]; a_sum += st->q[k]; }
    for (d = 0; d < SAFU_DIM; ++d) st->f_att[d] = 0.0f;
    for (k = 0; k < L; ++k) {
        token_row(st->seq[k], st->row_a);
        for (d = 0; d < SAFU_DIM; ++d) st->f_att[d] += st->q[k] * st->row_a[d];
    }
    for (d = 0; d < SAFU_DIM; ++d) st->f_att[d] = st->f_att[d] / a_sum;
    /* [f_row, f_att] @ intent_U[N+B : N+B+2D] */
    for (d = 0; d < SAFU_DIM; ++d)
        intent_u_axpy(SAFU_N_VOCAB + SAFU_BIGRAM_BUCKETS + d, st->f_row[d], logits);
    for (d = 0; d < SAFU_DIM; ++d)
        intent_u_axpy(SAFU_N_VOCAB + SAFU_BIGRAM_BUCKETS + SAFU_DIM + d, st->f_att[d], logits);
    for (c = 0; c < SAFU_N_INTENTS; ++c) logits[c] += safu_intent_b[c];
    softmax(logits, st->p_intent, SAFU_N_INTENTS);
}

static void forward_slots(safu_state *st) {
    const int32_t n = st->n_tokens, L = n + 2, r = SAFU_SLOT_RADIUS;
    int32_t j, k, i, d, s, w[SAFU_SLOT_K];
    float *logits = st->slot_logits;

    for (j = 1; j <= n; ++j) {
        for (k = 0; k < SAFU_SLOT_K; ++k) {
            int32_t pos = j - r + k;
            w[k] = (pos >= 0 && pos < L) ? st->seq[pos] : 0;   /* <pad> outside */
        }
        token_row(w[r], st->row_b);
        for (k = 0; k < SAFU_SLOT_K; ++k) {
            token_row(w[k], st->row_a);
            st->q[k] = dot(st->row_a, st->row_b, SAFU_DIM);
        }
        for (i = 0; i < SAFU_SLOT_K; ++i) {
            float z = 0.0f;
            for (k = 0; k < SAFU_SLOT_K; ++k) z += st->q[k] * safu_slot_W[k * SAFU_SLOT_K + i];
            st->z[i] = z;
        }
        log_softmax(st->z, st->q, SAFU_SLOT_K);
        for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) logits[s] = 0.0f;
        /* h @ slot_U[:K_s*D] with h = [a_0 R[w_0], ..., a_{K-1} R[w_{K-1}]] */
        for (k = 0; k < SAFU_SLOT_K; ++k) {
            float a = -st->q[k];
            token_row(w[k], st->row_a);
            for (d = 0; d < SAFU_DIM; ++d) slot_u_axpy(k * SAFU_DIM + d, a * st->row_a[d], logits);
        }
        /* + slot_U[K_s*D + seq[j]] + slot_b */
        slot_u_axpy(SAFU_SLOT_K * SAFU_DIM + st->seq[j], 1.0f, logits);
        for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) logits[s] += safu_slot_b[s];
        softmax(logits, st->p_slot[j - 1], SAFU_N_SLOT_LABELS);
    }
}

void safu_forward(safu_state *st) {
    int32_t j, n = st->n_tokens;
    st->seq[0] = SAFU_ID_SOD;
    for (j = 0; j < n; ++j) st->seq[j + 1] = st->ids[j];
    st->seq[n + 1] = SAFU_ID_EOD;
    forward_intent(st);
    forward_slots(st);
}

/* ---------------------------------------------------------------- decoding */

static int32_t argmax(const float *p, int32_t n) {
    int32_t i, best = 0;
    for (i = 1; i < n; ++i)
        if (p[i] > p[best]) best = i;
    return best;
}

/* Do tokens first..last (lower case, joined by one space) equal the synonym surface? */
static int span_matches(const char *text, const safu_state *st, int32_t first, int32_t last,
                        const char *surface) {
    const unsigned char *p = (const unsigned char *)surface;
    int32_t j, i;
    for (j = first; j <= last; ++j) {
        if (j > first) { if (*p != ' ') return 0; ++p; }
        for (i = st->tok_start[j]; i < st->tok_end[j]; ++i, ++p)
            if (*p == 0 || *p != lower((unsigned char)text[i])) return 0;
    }
    return *p == 0;
}

static void close_span(const char *text, const safu_state *st, safu_result *res, int32_t slot,
                       int32_t first, int32_t last) {
    int32_t i;
    safu_span *sp;
    for (i = 0; i < res->n_spans; ++i)
        if (res->spans[i].slot == slot) return;   /* the first span of a slot wins */
    sp = &res->spans[res->n_spans++];
    sp->slot = slot;
    sp->start = st->tok_start[first];
    sp->end = st->tok_end[last];
    if (safu_slot_trim_possessive[slot] && sp->end - st->tok_start[last] > 2 && text[sp->end - 2] == '\'' &&
        (text[sp->end - 1] == 's' || text[sp->end - 1] == 'S'))
        sp->end -= 2;   /* the slot's training spans leave a possessive "'s" out */
    sp->synonym = -1;
    for (i = 0; i < SAFU_N_SYNONYMS; ++i) {
        if (safu_synonym_slot[i] == slot && span_matches(text, st, first, last, safu_synonym_surface[i])) {
            sp->synonym = i;
            break;
        }
    }
}

/* May label s be used under intent c (slot_allowed[c]; O always)? */
static int label_ok(int32_t s, int32_t c) {
#if SAFU_HAS_SLOT_ALLOWED
    return s == 0 || safu_slot_allowed[(size_t)c * SAFU_N_SLOT_LABELS + (size_t)s];
#else
    (void)s; (void)c;
    return 1;
#endif
}

/* BIO: I-x only after B-x or I-x; prev = -1 is the start of the utterance. */
static int label_legal(int32_t prev, int32_t s) {
    if (safu_slot_label_kind[s] != 2) return 1;
    return prev >= 0 && safu_slot_label_kind[prev] != 0 && safu_slot_label_slot[prev] == safu_slot_label_slot[s];
}

/* slot_transitions[prev + 1, s], 0 when the model has no table */
static float transition(int32_t prev, int32_t s) {
#if SAFU_HAS_SLOT_TRANSITIONS
    return safu_slot_transitions[(size_t)(prev + 1) * SAFU_N_SLOT_LABELS + (size_t)s];
#else
    (void)prev; (void)s;
    return 0.0f;
#endif
}

static float log_p_slot(const safu_state *st, int32_t j, int32_t s) {
    float p = st->p_slot[j][s];
    float lp = safu_logf(p > 1e-30f ? p : 1e-30f);
#if SAFU_HAS_SLOT_CASE
    /* lp + (value bonus + letter-case scores), as docs/intent_model.md sums the evidence */
    float e = st->vit_hit[j][s] ? safu_value_bonus : 0.0f;
    if (st->case_flags[j]) {
        float c = 0.0f;
        int32_t f;
        for (f = 0; f < 5; ++f)
            if ((st->case_flags[j] >> f) & 1) c += safu_slot_case[f * SAFU_N_SLOT_LABELS + s];
        e += c;
    }
    return lp + e;
#else
    return st->vit_hit[j][s] ? lp + safu_value_bonus : lp;
#endif
}

#if SAFU_HAS_SLOT_CASE
/* Letter-case flags of the tokens (docs/intent_model.md "Slot decoding"): bit 0 capitalised (first
 * byte A-Z, not the first token), 1 the first token capitalised, 2 all caps, 3 the previous token
 * and 4 the next token has bit 0; all 0 when no token starts with a-z. */
static void case_flags(const char *text, safu_state *st) {
    int32_t j, i, n = st->n_tokens, has_case = 0;
    for (j = 0; j < n; ++j) st->case_flags[j] = 0;
    for (j = 0; j < n && !has_case; ++j) has_case = text[st->tok_start[j]] >= 'a' && text[st->tok_start[j]] <= 'z';
    if (!has_case) return;
    for (j = 0; j < n; ++j) {
        int32_t other_upper = 0, any_lower = 0;
        char c0 = text[st->tok_start[j]];
        if (c0 < 'A' || c0 > 'Z') continue;
        if (j == 0) {
            st->case_flags[0] |= 2;
        } else {
            st->case_flags[j] |= 1;
            st->case_flags[j - 1] |= 16;
            if (j + 1 < n) st->case_flags[j + 1] |= 8;
        }
        for (i = st->tok_start[j] + 1; i < st->tok_end[j]; ++i) {
            char c = text[i];
            if (c >= 'A' && c <= 'Z') other_upper = 1;
            if (c >= 'a' && c <= 'z') any_lower = 1;
        }
        if (other_upper && !any_lower) st->case_flags[j] |= 4;
    }
}
#endif

/* vit_hit: 1 at B-x of the first token and I-x of the others of every run of input ids that equals
 * a known value of slot x (slot.values). */
static void match_values(safu_state *st) {
    int32_t a, k, s, n = st->n_tokens;
    uint32_t v;
    for (a = 0; a < n; ++a)
        for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) st->vit_hit[a][s] = 0;
    for (v = 0; v < (uint32_t)SAFU_N_VALUES; ++v) {
        uint32_t first = safu_value_offset[v];
        int32_t m = (int32_t)(safu_value_offset[v + 1] - first);
        for (a = 0; a + m <= n; ++a) {
            for (k = 0; k < m && st->ids[a + k] == (int32_t)safu_value_ids[first + (uint32_t)k]; ++k) {}
            if (k < m) continue;
            st->vit_hit[a][safu_value_label[2 * v]] = 1;
            for (k = 1; k < m; ++k) st->vit_hit[a + k][safu_value_label[2 * v + 1]] = 1;
        }
    }
}

/* Viterbi over log p_slot + transitions, legal and allowed labels only; ties to the lowest label. */
static void viterbi(safu_state *st, int32_t c) {
    const float NEG = bits_to_float(0xff800000u);   /* -inf */
    int32_t j, s, p, n = st->n_tokens, last = 0;
    if (n == 0) return;
    match_values(st);
    for (s = 0; s < SAFU_N_SLOT_LABELS; ++s)
        st->vit_delta[s] = label_ok(s, c) && label_legal(-1, s) ? log_p_slot(st, 0, s) + transition(-1, s) : NEG;
    for (j = 1; j < n; ++j) {
        for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) {
            float best = NEG;
            int32_t arg = 0;
            if (label_ok(s, c)) {
                for (p = 0; p < SAFU_N_SLOT_LABELS; ++p) {
                    float v;
                    if (!label_legal(p, s) || st->vit_delta[p] == NEG) continue;
                    v = st->vit_delta[p] + transition(p, s);
                    if (v > best) { best = v; arg = p; }
                }
            }
            st->vit_back[j][s] = (safu_label_t)arg;
            st->vit_next[s] = best == NEG ? NEG : best + log_p_slot(st, j, s);
        }
        for (s = 0; s < SAFU_N_SLOT_LABELS; ++s) st->vit_delta[s] = st->vit_next[s];
    }
    for (s = 1; s < SAFU_N_SLOT_LABELS; ++s)
        if (st->vit_delta[s] > st->vit_delta[last]) last = s;
    st->label[n - 1] = last;
    for (j = n - 1; j > 0; --j) st->label[j - 1] = st->vit_back[j][st->label[j]];
}

/* Spans are the runs B-x I-x* of the Viterbi labels (c = argmax p_intent). */
static void decode_slots(const char *text, safu_state *st, safu_result *res) {
    int32_t j = 0, n = st->n_tokens;
    res->n_spans = 0;
#if SAFU_HAS_SLOT_CASE
    case_flags(text, st);
#endif
    viterbi(st, res->best);
    while (j < n) {
        int32_t lab = st->label[j], first = j, slot;
        if (safu_slot_label_kind[lab] == 0) { ++j; continue; }
        slot = safu_slot_label_slot[lab];
        ++j;
        while (j < n && safu_slot_label_kind[st->label[j]] == 2 && safu_slot_label_slot[st->label[j]] == slot) ++j;
        close_span(text, st, res, slot, first, j - 1);
    }
}

void safu_predict(safu_state *st, const char *text, int32_t len, safu_result *res) {
    safu_tokenize(st, text, len);
    safu_forward(st);
    res->n_tokens = st->n_tokens;
    res->best = argmax(st->p_intent, SAFU_N_INTENTS);
    res->confidence = st->p_intent[res->best];
    decode_slots(text, st, res);
    /* as runtime/api.py: no words, or below the threshold -> no intent and no slots */
    res->intent = (st->n_tokens == 0 || res->best == SAFU_NONE_INTENT || res->confidence < safu_intent_threshold)
                      ? -1 : res->best;
    if (res->intent < 0) res->n_spans = 0;
}

/* ---------------------------------------------------------------- printing without printf */

void safu_write_n(const char *s, int32_t n) {
    char buf[65];
    int32_t i = 0;
    while (i < n) {
        int32_t m = 0;
        while (m < 64 && i < n) buf[m++] = s[i++];
        buf[m] = 0;
        safu_write(buf);
    }
}

void safu_write_u32(uint32_t v) {
    char buf[11];
    int32_t i = 10;
    buf[10] = 0;
    do { buf[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    safu_write(buf + i);
}

void safu_write_hex32(uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    char buf[9];
    int32_t i;
    for (i = 7; i >= 0; --i) { buf[i] = hex[v & 15u]; v >>= 4; }
    buf[8] = 0;
    safu_write(buf);
}

/* v with `decimals` digits after the point (0 <= v < 4e9), rounded half up. */
void safu_write_fixed(float v, int32_t decimals) {
    uint32_t scale = 1, whole, frac;
    int32_t i;
    char buf[12];
    if (v < 0.0f) { safu_write("-"); v = -v; }
    for (i = 0; i < decimals; ++i) scale *= 10u;
    frac = (uint32_t)(v * (float)scale + 0.5f);
    whole = frac / scale;
    frac = frac % scale;
    safu_write_u32(whole);
    if (decimals <= 0) return;
    safu_write(".");
    for (i = decimals - 1; i >= 0; --i) { buf[i] = (char)('0' + frac % 10u); frac /= 10u; }
    buf[decimals] = 0;
    safu_write(buf);
}

static void write_json_string(const char *s, int32_t n) {
    int32_t i, run = 0;
    safu_write("\"");
    for (i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20) {
            safu_write_n(s + run, i - run);
            if (c == '"') safu_write("\\\"");
            else if (c == '\\') safu_write("\\\\");
            else { safu_write("\\u00"); safu_write_n("0123456789abcdef" + (c >> 4), 1); safu_write_n("0123456789abcdef" + (c & 15), 1); }
            run = i + 1;
        }
    }
    safu_write_n(s + run, n - run);
    safu_write("\"");
}

static int32_t cstr_len(const char *s) { int32_t n = 0; while (s[n]) ++n; return n; }

/* FNV-1a over the bits of every probability (p_intent, then p_slot row by row). */
static uint32_t prob_hash(const safu_state *st) {
    uint32_t h = 2166136261u;
    int32_t i, j, b;
    for (i = 0; i < SAFU_N_INTENTS; ++i) {
        uint32_t v = safu_float_bits(st->p_intent[i]);
        for (b = 0; b < 4; ++b) { h ^= (v >> (8 * b)) & 0xffu; h *= 16777619u; }
    }
    for (j = 0; j < st->n_tokens; ++j)
        for (i = 0; i < SAFU_N_SLOT_LABELS; ++i) {
            uint32_t v = safu_float_bits(st->p_slot[j][i]);
            for (b = 0; b < 4; ++b) { h ^= (v >> (8 * b)) & 0xffu; h *= 16777619u; }
        }
    return h;
}

void safu_print_result(const safu_state *st, const char *text, int32_t len, const safu_result *res,
                       int dump_probs) {
    int32_t i, j;
    safu_write("{\"text\": ");
    write_json_string(text, len);
    safu_write(", \"intent\": ");
    if (res->intent < 0) safu_write("null");
    else write_json_string(safu_intent_labels[res->intent], cstr_len(safu_intent_labels[res->intent]));
    safu_write(", \"confidence\": ");
    safu_write_fixed(res->confidence, 4);
    safu_write(", \"slots\": {");
    for (i = 0; i < res->n_spans; ++i) {
        const safu_span *sp = &res->spans[i];
        const char *name = safu_slot_names[sp->slot];
        if (i) safu_write(", ");
        write_json_string(name, cstr_len(name));
        safu_write(": ");
        if (sp->synonym >= 0)
            write_json_string(safu_synonym_value[sp->synonym], cstr_len(safu_synonym_value[sp->synonym]));
        else
            write_json_string(text + sp->start, sp->end - sp->start);
    }
    safu_write("}, \"hash\": \"");
    safu_write_hex32(prob_hash(st));
    safu_write("\"");
    if (dump_probs) {
        safu_write(", \"p_intent\": \"");
        for (i = 0; i < SAFU_N_INTENTS; ++i) {
            if (i) safu_write(" ");
            safu_write_hex32(safu_float_bits(st->p_intent[i]));
        }
        safu_write("\", \"p_slot\": \"");
        for (j = 0; j < st->n_tokens; ++j)
            for (i = 0; i < SAFU_N_SLOT_LABELS; ++i) {
                if (i || j) safu_write(" ");
                safu_write_hex32(safu_float_bits(st->p_slot[j][i]));
            }
        safu_write("\"");
    }
    safu_write("}\n");
}
