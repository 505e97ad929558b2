"""Batched utterance features of the intent model, float64, for training and fast evaluation.

The per-utterance definition is docs/intent_model.md; models/reference.py computes it one utterance
at a time in float32 and tests check the two agree. Here everything is vectorised over a padded
batch. Training memory grows with tokens only through small (tokens x K) arrays: pooled token rows
are kept as sparse (sentences x vocabulary) weights (f = A @ R, never an (M, D) array for all
sentences), and the per-position arithmetic runs over blocks of sentences (`row_blocks`). The small
products with the attention matrices (`position_mix`) are plain sums in a fixed order, so a result
does not depend on how the sentences are cut into blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safu.models.cooc import cooc_layout
from safu.models.reference import BIGRAM_PRIME
from safu.models.safu_unit import log_softmax
from safu.models.tokenizer import EOD, PAD, SOD


def bigram_bucket(a: np.ndarray, b: np.ndarray, buckets: int) -> np.ndarray:
    return (a.astype(np.int64) * BIGRAM_PRIME + b.astype(np.int64)) % buckets


@dataclass
class Batch:
    """Padded sequences `<sod> ids <eod>`: S (M, Lmax) int32 token ids, mask (M, Lmax) bool, L (M,) int64.

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
        S = np.full((len(id_lists), Lmax), PAD, dtype=np.int32)
        for m, ids in enumerate(id_lists):
            S[m, 0] = SOD
            S[m, 1:len(ids) + 1] = ids
            S[m, len(ids) + 1] = EOD
        mask = np.arange(Lmax)[None, :] < L[:, None]
        return cls(S, mask, L)

    @classmethod
    def from_flat(cls, ids: np.ndarray, lengths: np.ndarray) -> "Batch":
        """The same batch as from_ids, from the ids of all sentences one after another and their lengths."""
        lengths = np.asarray(lengths, dtype=np.int64)
        L = lengths + 2
        Lmax = int(L.max()) if len(L) else 2
        pos = np.arange(Lmax)[None, :]
        S = np.full((len(L), Lmax), PAD, dtype=np.int32)
        S[:, 0] = SOD
        S[(pos >= 1) & (pos <= lengths[:, None])] = ids   # row-major: sentence after sentence
        S[np.arange(len(L)), lengths + 1] = EOD
        return cls(S, pos < L[:, None], L)

    def __len__(self) -> int:
        return len(self.L)

    def rows(self, sl: slice) -> "Batch":
        """Sentences sl (a contiguous range) as views of the same width: row sums (softmax over
        the positions) then add the same terms in the same order as over the whole batch."""
        return Batch(self.S[sl], self.mask[sl], self.L[sl])

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
        S_ext = np.full((M, Lmax + 2 * radius), PAD, dtype=np.int32)
        S_ext[:, radius:radius + Lmax] = np.where(self.mask, self.S, PAD)
        win = S_ext[rows[:, None], pos[:, None] + np.arange(2 * radius + 1)[None, :]]
        return rows, pos, win


def row_blocks(batch: Batch, tokens: int):
    """Yields slices of consecutive sentences holding about `tokens` positions each (at least one
    sentence): the unit of the blockwise training arithmetic."""
    ends = np.cumsum(batch.L)
    start = 0
    while start < len(batch):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + tokens, side="right")))
        yield slice(start, min(stop, len(batch)))
        start = stop


def cooc_sums(batch: Batch, E: np.ndarray, radius: int, mode: str, block_tokens: int = 1 << 15) -> np.ndarray:
    """models/cooc.cooc_sums over the batch's sentences (<sod> ids <eod>), the same sums added in
    the same order (so the same bits), vectorised over blocks of sentences: per block and offset,
    one np.add.at of the pairs in sentence order (cat mode: each offset has its own block; sum
    mode: the pairs of a sentence offset by offset, as cooc_sums adds them)."""
    offsets, out = cooc_layout(E, radius, mode)
    d = E.shape[1]
    for sl in row_blocks(batch, block_tokens):
        sub = batch.rows(sl)
        flat = sub.S[sub.mask].astype(np.int64)
        row = np.repeat(np.arange(len(sub)), sub.L)
        pos = np.arange(len(flat)) - sub.starts[row]
        pairs = [np.nonzero((pos + o >= 0) & (pos + o < sub.L[row]))[0] for o in offsets]   # centre positions
        if mode == "cat":
            for b, (o, p) in enumerate(zip(offsets, pairs)):
                np.add.at(out[:, b * d:(b + 1) * d], flat[p], E[flat[p + o]])
        else:
            centre = np.concatenate(pairs)
            neighbour = np.concatenate([p + o for o, p in zip(offsets, pairs)])
            order = np.argsort(row[centre], kind="stable")   # sentence by sentence, offset by offset
            np.add.at(out, flat[centre[order]], E[flat[neighbour[order]]])
    return out


def position_mix(Q: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Q @ W for a small W (K, K') as K scaled-row sums in a fixed order: a row's result does not
    depend on the other rows (BLAS kernels differ at block edges, which would make a blockwise fit
    depend on the block size)."""
    out = Q[:, 0, None] * W[0]
    for k in range(1, Q.shape[1]):
        out += Q[:, k, None] * W[k]
    return out


def pooled_weights(batch: Batch, weights: np.ndarray, vocab_size: int):
    """A (M, N) sparse: A[m, t] = sum of weights[m, k] over the valid positions k with S[m, k] = t,
    so that A @ R = sum_k weights[m, k] R[S[m, k]]: pooled token rows whose memory grows with the
    tokens, not with tokens x D (or sentences x D). `weights`: (M, Lmax), or the valid positions'
    weights row after row (sum L,)."""
    values = weights if weights.ndim == 1 else weights[batch.mask]
    return position_matrix(batch.L, batch.S[batch.mask], values, vocab_size)


def position_matrix(counts: np.ndarray, columns: np.ndarray, values: np.ndarray, width: int):
    """CSR (len(counts), width) from entries given row after row, counts[m] of them in row m;
    repeated columns in a row are summed."""
    import scipy.sparse as sparse

    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    index_type = np.int32 if max(width, int(indptr[-1])) < 2**31 else np.int64
    A = sparse.csr_matrix((np.asarray(values, dtype=np.float64), columns.astype(index_type), indptr.astype(index_type)),
                          shape=(len(counts), width))
    A.sum_duplicates()
    return A


def row_weights(batch: Batch, vocab_size: int):
    """A_row (M, N): f_row = A_row @ R, the mean token row (also f_bow: the same 1/L weights)."""
    return pooled_weights(batch, np.broadcast_to(1.0 / batch.L[:, None], batch.S.shape), vocab_size)


def row_features(batch: Batch, R: np.ndarray) -> np.ndarray:
    """f_row (M, D): mean token row over the L valid positions."""
    return np.asarray(row_weights(batch, R.shape[0]) @ R)


def intent_comparisons(batch: Batch, R: np.ndarray) -> np.ndarray:
    """Q (M, Lmax): each position's row . the head row (<sod>, the same for every utterance, so the
    comparison is one cached value per type)."""
    q_type = R @ R[SOD]
    return q_type[batch.S] * batch.mask


def intent_attention_weights(batch: Batch, R: np.ndarray, W: np.ndarray, block_tokens: int) -> np.ndarray:
    """a / sum_k a_k of the intent SAFU (head = position 0) at the valid positions, row after row
    (sum L,); computed over blocks of sentences so the temporaries stay small."""
    out = np.empty(int(batch.L.sum()))
    at, Lmax = 0, batch.S.shape[1]
    for sl in row_blocks(batch, block_tokens):
        sub = batch.rows(sl)
        a = -log_softmax(position_mix(intent_comparisons(sub, R), W[:Lmax, :Lmax]), sub.mask)
        n = int(sub.L.sum())
        out[at:at + n] = (a / a.sum(axis=1, keepdims=True))[sub.mask]
        at += n
    return out


def intent_attention(batch: Batch, R: np.ndarray, W: np.ndarray, block_tokens: int = 1 << 15):
    """A_att (M, N) sparse: f_att = A_att @ R, the attention-pooled row."""
    return pooled_weights(batch, intent_attention_weights(batch, R, W, block_tokens), R.shape[0])


def intent_internal_targets(batch: Batch, R: np.ndarray, G: np.ndarray) -> np.ndarray:
    """V (M, Lmax): V_(m,k) = G_m . R[seq_k] at valid positions, 0 elsewhere (G includes + c)."""
    rows = np.repeat(np.arange(len(batch)), batch.L)
    V = np.zeros(batch.S.shape)
    V[batch.mask] = np.einsum("td,td->t", G[rows], R[batch.flat])
    return V


def token_index(batch: Batch, rows: np.ndarray) -> np.ndarray:
    """Indices, in slot_windows order (real tokens row by row), of the real tokens of `rows` (sorted)."""
    n = batch.L - 2
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    counts = n[rows]
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(first[rows], counts) + offsets


def slot_comparisons(win: np.ndarray, R: np.ndarray, radius: int, chunk: int = 4096) -> np.ndarray:
    """Q (T, K) of the slot SAFU: R[w_k] . R[w_r] for each window, in chunks of windows (the
    (chunk, D) gathers are the only tokens x D arrays, and they are bounded). One window slot at a
    time: a row-wise dot product of two (chunk, D) gathers is twice as fast as a batched matmul."""
    Q = np.empty(win.shape)
    for start in range(0, len(win), chunk):
        w = win[start:start + chunk]
        centre = R[w[:, radius]]
        for k in range(win.shape[1]):
            Q[start:start + chunk, k] = np.einsum("td,td->t", R[w[:, k]], centre)
    return Q
