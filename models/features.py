"""Batched utterance features of the intent model, float64, for training and fast evaluation.

The per-utterance definition is docs/intent_model.md; models/reference.py computes it one utterance
at a time in float32 and tests check the two agree. Here everything is vectorised over a padded
batch so one pass over 13k SNIPS sentences takes well under a second.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safu.models.safu_unit import log_softmax
from safu.models.tokenizer import EOD, PAD, SOD

BIGRAM_PRIME = 1000003


def bigram_bucket(a: np.ndarray, b: np.ndarray, buckets: int) -> np.ndarray:
    return (a.astype(np.int64) * BIGRAM_PRIME + b.astype(np.int64)) % buckets


@dataclass
class Batch:
    """Padded sequences `<sod> ids <eod>`: S (M, Lmax) int64, mask (M, Lmax) bool, L (M,)."""

    S: np.ndarray
    mask: np.ndarray
    L: np.ndarray

    @classmethod
    def from_ids(cls, id_lists: list[np.ndarray]) -> "Batch":
        L = np.array([len(x) + 2 for x in id_lists], dtype=np.int64)
        Lmax = int(L.max()) if len(L) else 2
        S = np.full((len(id_lists), Lmax), PAD, dtype=np.int64)
        for m, ids in enumerate(id_lists):
            S[m, 0] = SOD
            S[m, 1:len(ids) + 1] = ids
            S[m, len(ids) + 1] = EOD
        mask = np.arange(Lmax)[None, :] < L[:, None]
        return cls(S, mask, L)

    def __len__(self) -> int:
        return len(self.L)

    def take(self, rows) -> "Batch":
        L = self.L[rows]
        Lmax = int(L.max()) if len(L) else 2
        return Batch(self.S[rows, :Lmax], self.mask[rows, :Lmax], L)

    def bigrams(self, buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns (bucket ids (M, Lmax-1), valid mask) for adjacent pairs j, j+1 < L."""
        ids = bigram_bucket(self.S[:, :-1], self.S[:, 1:], max(buckets, 1))
        return ids, self.mask[:, 1:]

    # -- slot positions ------------------------------------------------------------------------
    def slot_windows(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (rows (T,), seq positions (T,), window ids (T, 2r+1)) for every real token."""
        M, Lmax = self.S.shape
        rows, pos = np.nonzero(self.mask & (np.arange(Lmax)[None, :] > 0)
                               & (np.arange(Lmax)[None, :] < (self.L - 1)[:, None]))
        S_ext = np.full((M, Lmax + 2 * radius), PAD, dtype=np.int64)
        S_ext[:, radius:radius + Lmax] = np.where(self.mask, self.S, PAD)
        win = S_ext[rows[:, None], pos[:, None] + np.arange(2 * radius + 1)[None, :]]
        return rows, pos, win


def row_features(batch: Batch, R: np.ndarray) -> np.ndarray:
    """f_row (M, D): mean token row over the L valid positions."""
    X = R[batch.S] * batch.mask[:, :, None]
    return X.sum(axis=1) / batch.L[:, None]


def intent_attention_parts(batch: Batch, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (X (M, Lmax, D) masked rows, Q (M, Lmax) comparisons with the <sod> head)."""
    X = R[batch.S] * batch.mask[:, :, None]
    Q = np.einsum("mkd,md->mk", X, R[batch.S[:, 0]])
    return X, Q


def intent_attention(batch: Batch, R: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (f_att (M, D), a (M, Lmax), Q (M, Lmax)) of the intent SAFU (head = position 0)."""
    X, Q = intent_attention_parts(batch, R)
    Lmax = batch.S.shape[1]
    a = -log_softmax(Q @ W[:Lmax, :Lmax], batch.mask)
    f = np.einsum("mk,mkd->md", a, X) / a.sum(axis=1, keepdims=True)
    return f, a, Q


def slot_safu(win: np.ndarray, R: np.ndarray, W: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (h (T, K*D) cat features, a (T, K), X (T, K, D)) of the slot SAFU over windows."""
    X = R[win]
    Q = np.einsum("tkd,td->tk", X, X[:, radius, :])
    a = -log_softmax(Q @ W)
    return (a[:, :, None] * X).reshape(len(win), -1), a, X
