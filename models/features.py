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
    """Padded sequences `<sod> ids <eod>`: S (M, Lmax) int64, mask (M, Lmax) bool, L (M,).

    `flat` holds the valid ids row by row (S[mask]); `starts` the first flat index of each row.
    """

    S: np.ndarray
    mask: np.ndarray
    L: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        return self.S[self.mask]

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.L)[:-1]])

    def row_sum(self, values: np.ndarray) -> np.ndarray:
        """Sums per-position values (sum(L), ...) over each row -> (M, ...)."""
        # Rows of equal length are summed together as a dense (m, L, ...) block: contiguous and
        # much faster than np.add.reduceat or prefix sums on wide arrays.
        starts = self.starts
        out = np.empty((len(self.L),) + values.shape[1:], dtype=values.dtype)
        for length in np.unique(self.L):
            rows = np.nonzero(self.L == length)[0]
            idx = starts[rows][:, None] + np.arange(length)[None, :]
            out[rows] = values[idx].sum(axis=1)
        return out

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


def pooled_rows(batch: Batch, R: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_k weights[m, k] R[S[m, k]] over the valid positions, (M, D), as a sparse (M, N) x (N, D)
    product: memory grows with the sentences and the vocabulary, not with tokens x D."""
    import scipy.sparse as sparse

    rows, cols = np.nonzero(batch.mask)
    A = sparse.csr_matrix((weights[rows, cols], (rows, batch.S[rows, cols])), shape=(len(batch), R.shape[0]))
    return np.asarray(A @ R)


def row_features(batch: Batch, R: np.ndarray) -> np.ndarray:
    """f_row (M, D): mean token row over the L valid positions."""
    return pooled_rows(batch, R, np.broadcast_to(1.0 / batch.L[:, None], batch.S.shape))


def intent_comparisons(batch: Batch, R: np.ndarray) -> np.ndarray:
    """Q (M, Lmax): each position's row . the head row (<sod>, the same for every utterance, so the
    comparison is one cached value per type)."""
    q_type = R @ R[SOD]
    return q_type[batch.S] * batch.mask


def intent_attention(batch: Batch, R: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (f_att (M, D), a (M, Lmax), Q (M, Lmax)) of the intent SAFU (head = position 0)."""
    Q = intent_comparisons(batch, R)
    Lmax = batch.S.shape[1]
    a = -log_softmax(Q @ W[:Lmax, :Lmax], batch.mask)
    f = pooled_rows(batch, R, a / a.sum(axis=1, keepdims=True))
    return f, a, Q


def intent_internal_targets(batch: Batch, R: np.ndarray, G: np.ndarray) -> np.ndarray:
    """V (M, Lmax): V_(m,k) = G_m . R[seq_k] at valid positions, 0 elsewhere (G includes + c)."""
    rows = np.repeat(np.arange(len(batch)), batch.L)
    V = np.zeros(batch.S.shape)
    V[batch.mask] = np.einsum("td,td->t", G[rows], R[batch.flat])
    return V


def slot_safu(win: np.ndarray, R: np.ndarray, W: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (h (T, K*D) cat features, a (T, K), X (T, K, D)) of the slot SAFU over windows."""
    X = R[win]
    Q = np.matmul(X, X[:, radius, :, None])[:, :, 0]
    a = -log_softmax(Q @ W)
    return (a[:, :, None] * X).reshape(len(win), -1), a, X
