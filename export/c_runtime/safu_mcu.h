/* safu_mcu.h: the intent model of docs/intent_model.md for microcontrollers, in C99.
 *
 * No heap, no libm, no stdio: all working memory is one fixed-size safu_state (sized at compile
 * time from the generated safu_model.h), weights are const arrays (flash), exp/log are our own
 * range-reduced polynomials so a host build and a board build give the same bits
 * (compile everything with -ffp-contract=off).
 *
 *   static safu_state st;
 *   safu_result res;
 *   safu_predict(&st, "turn on the kitchen lights", 26, &res);
 *   // res.intent (-1 = below threshold), res.confidence, res.spans[0..res.n_spans)
 *
 * Output goes through one hook, safu_write(const char *), that each platform defines
 * (semihosting on the boards, stdout on the host).
 */
#ifndef SAFU_MCU_H
#define SAFU_MCU_H

#include <stddef.h>
#include <stdint.h>

#include "safu_model.h"

#define SAFU_SEQ_MAX (SAFU_MAX_TOKENS + 2)

/* a slot label index as the Viterbi back-pointers store it */
#if SAFU_N_SLOT_LABELS <= 256
typedef uint8_t safu_label_t;
#else
typedef uint16_t safu_label_t;
#endif

typedef struct safu_span {
    int32_t slot;        /* index into safu_slot_names */
    int32_t start, end;  /* byte offsets of the surface in the input text */
    int32_t synonym;     /* index into safu_synonym_* or -1: the value is the surface */
} safu_span;

typedef struct safu_result {
    int32_t intent;      /* argmax intent, or -1 when confidence < threshold */
    int32_t best;        /* argmax intent regardless of the threshold */
    float confidence;    /* max intent probability */
    int32_t n_tokens;
    int32_t n_spans;
    safu_span spans[SAFU_N_SLOT_NAMES > 0 ? SAFU_N_SLOT_NAMES : 1];
} safu_result;

/* All per-utterance working memory. Fixed size; no pointers into the heap. */
typedef struct safu_state {
    int32_t ids[SAFU_MAX_TOKENS + 1];
    int32_t tok_start[SAFU_MAX_TOKENS + 1];
    int32_t tok_end[SAFU_MAX_TOKENS + 1];
    int32_t n_tokens;
    int32_t seq[SAFU_SEQ_MAX];
    float row_a[SAFU_DIM];                  /* dequantised token rows */
    float row_b[SAFU_DIM];
    float q[SAFU_INTENT_K > SAFU_SLOT_K ? SAFU_INTENT_K : SAFU_SLOT_K];
    float z[SAFU_INTENT_K > SAFU_SLOT_K ? SAFU_INTENT_K : SAFU_SLOT_K];
    float f_row[SAFU_DIM];
    float f_att[SAFU_DIM];
    float intent_logits[SAFU_N_INTENTS];
    float p_intent[SAFU_N_INTENTS];               /* (C,) */
    float slot_logits[SAFU_N_SLOT_LABELS];
    float p_slot[SAFU_MAX_TOKENS + 1][SAFU_N_SLOT_LABELS];  /* (n, S) */
    int32_t label[SAFU_MAX_TOKENS + 1];     /* decoded slot label per token */
    float vit_delta[SAFU_N_SLOT_LABELS];    /* Viterbi scores of the current token */
    float vit_next[SAFU_N_SLOT_LABELS];
    safu_label_t vit_back[SAFU_MAX_TOKENS + 1][SAFU_N_SLOT_LABELS];  /* back-pointers */
    uint8_t vit_hit[SAFU_MAX_TOKENS + 1][SAFU_N_SLOT_LABELS];        /* a known value matches here */
    uint8_t case_flags[SAFU_MAX_TOKENS + 1];  /* letter-case flags per token (bit f: row f of slot_case) */
} safu_state;

/* exp and natural log without libm (float32, range reduction + polynomial). */
float safu_expf(float x);
float safu_logf(float x);

/* Tokenise text (len bytes, UTF-8) into st->ids / tok_start / tok_end. Returns the token count. */
int32_t safu_tokenize(safu_state *st, const char *text, int32_t len);

/* Forward pass over st->ids[0..n): fills st->p_intent and st->p_slot. */
void safu_forward(safu_state *st);

/* Tokenise, run the forward pass, decode intent and slot spans into *res. */
void safu_predict(safu_state *st, const char *text, int32_t len, safu_result *res);

/* Printing helpers (no printf); safu_write is defined by the platform. */
void safu_write(const char *s);
void safu_write_n(const char *s, int32_t n);
void safu_write_u32(uint32_t v);
void safu_write_hex32(uint32_t v);
void safu_write_fixed(float v, int32_t decimals);
uint32_t safu_float_bits(float v);

/* Print one result as a line of JSON-like text; dump_probs adds every probability as hex bits. */
void safu_print_result(const safu_state *st, const char *text, int32_t len, const safu_result *res,
                       int dump_probs);

#endif /* SAFU_MCU_H */
