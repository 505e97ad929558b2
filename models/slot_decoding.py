"""Slot decoding of docs/intent_model.md ("Slot decoding"): Viterbi over the per-token label
log-probabilities under BIO rules, then spans with canonical values.

    labels = viterbi_labels(np.log(p_slot), legal_transitions(slot_labels), transitions, allowed)
    T = masked_transitions(legal, transitions, allowed)   # the same in two steps: T once per intent
    labels = viterbi_path(np.log(p_slot), T)
    spans = label_spans(labels, slot_labels)          # [(name, first token, last token), ...]

The C++ core (cpp/src/intent_model.cpp) and the C export (export/c_runtime/safu_mcu.c) implement
the same recurrence, ties broken the same way (lowest label index first).
"""
from __future__ import annotations

import numpy as np


def label_parts(labels: list[str]) -> tuple[list[int], list[str | None]]:
    """Per label: kind (0 = O, 1 = B-x, 2 = I-x) and slot name (None for O)."""
    kinds, names = [], []
    for lab in labels:
        if lab == "O":
            kinds.append(0)
            names.append(None)
        else:
            kinds.append(1 if lab.startswith("B-") else 2)
            names.append(lab[2:])
    return kinds, names


def legal_transitions(labels: list[str]) -> np.ndarray:
    """(S+1, S) bool: row 0 is the start of the utterance, row p+1 follows label p.

    I-x may only follow B-x or I-x; everything else is legal (O, and B-y after anything)."""
    kinds, names = label_parts(labels)
    S = len(labels)
    legal = np.ones((S + 1, S), dtype=bool)
    for s in range(S):
        if kinds[s] != 2:
            continue
        legal[0, s] = False
        for p in range(S):
            legal[p + 1, s] = kinds[p] != 0 and names[p] == names[s]
    return legal


def masked_transitions(legal: np.ndarray, transitions: np.ndarray | None = None,
                       allowed: np.ndarray | None = None) -> np.ndarray:
    """(S+1, S) float64: the transition scores (0 without a table) where the transition is legal
    and the next label usable under the intent (`allowed`, O always), -inf elsewhere."""
    S = legal.shape[1]
    ok = np.ones(S, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool).copy()
    ok[0] = True
    T = np.zeros((S + 1, S)) if transitions is None else np.asarray(transitions, dtype=np.float64)
    return np.where(legal & ok[None, :], T, -np.inf)


def viterbi_path(log_p: np.ndarray, T: np.ndarray) -> list[int]:
    """Best path for masked_transitions T: ties to the lowest previous label and, at the end, the
    lowest final label. Accumulates in float64."""
    log_p = np.asarray(log_p, dtype=np.float64)
    n, S = log_p.shape
    if n == 0:
        return []
    delta = log_p[0] + T[0]
    T1, cols = T[1:], np.arange(S)
    back = np.zeros((n, S), dtype=np.int64)
    for j in range(1, n):
        cand = delta[:, None] + T1            # (S prev, S next)
        back[j] = cand.argmax(axis=0)         # first maximum = lowest previous label
        delta = cand[back[j], cols] + log_p[j]
    out = [int(delta.argmax())]
    for j in range(n - 1, 0, -1):
        out.append(int(back[j, out[-1]]))
    return out[::-1]


def viterbi_labels(log_p: np.ndarray, legal: np.ndarray, transitions: np.ndarray | None = None,
                   allowed: np.ndarray | None = None) -> list[int]:
    """Best label sequence: max over legal paths of sum_j (log_p[j, s_j] + transitions[s_{j-1}+1, s_j]).

    log_p (n, S); legal (S+1, S) bool; transitions (S+1, S) scores (None = 0 for every legal
    transition); allowed (S,) bool, the labels the predicted intent may use (None = all).
    O is always reachable, so a path always exists."""
    return viterbi_path(log_p, masked_transitions(legal, transitions, allowed))


def label_spans(label_ids: list[int], labels: list[str], parts=None) -> list[tuple[str, int, int]]:
    """(slot name, first token, last token) of each B-x I-x* run, in order. `parts`: the
    label_parts(labels) if already made."""
    kinds, names = parts if parts is not None else label_parts(labels)
    spans: list[list] = []
    for j, s in enumerate(label_ids):
        if kinds[s] == 0:
            continue
        if kinds[s] == 2 and spans and spans[-1][0] == names[s] and spans[-1][2] == j - 1:
            spans[-1][2] = j
            continue
        spans.append([names[s], j, j])
    return [tuple(sp) for sp in spans]
