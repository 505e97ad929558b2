"""Per-target contexts of the LM (docs/lm_model.md): block slots, radial window, document prefix.

    ctx = build_contexts(seqs, block_size=32, radius=4)
    ctx.block_ids (M, b), ctx.radial_ids (M, r), ctx.y (M,), ctx.doc_index (M,), ctx.pos (M,)

One row per target y_i (i = 1..n+1 of each document, the last target being <eod>). Ids only: the
feature rows are looked up from the tables in chunks, so memory stays O(M * (b + r)) integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tokenizer import EOD, FRG, PAD, SOD


@dataclass
class Contexts:
    block_ids: np.ndarray   # (M, b) int32: slot ids, slot 0 = <sod>/<frg>, <pad> at and after the target
    radial_ids: np.ndarray  # (M, r) int32: s_{i-r} .. s_{i-1}, <pad> before the document
    y: np.ndarray           # (M,) int64 targets
    doc_index: np.ndarray   # (M,) int64: which document the target belongs to
    pos: np.ndarray         # (M,) int64: i, the number of sequence ids before the target (<sod> included)
    seqs: list              # the documents' sequences s = [<sod>, t_1..t_n] (int64)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> "Contexts":
        return Contexts(self.block_ids[rows], self.radial_ids[rows], self.y[rows],
                        self.doc_index[rows], self.pos[rows], self.seqs)


def build_contexts(docs: list[np.ndarray], block_size: int, radius: int) -> Contexts:
    """Contexts for every target of every document (token id arrays without specials)."""
    b, r = block_size, radius
    blocks, radials, ys, dis, poss, seqs = [], [], [], [], [], []
    for di, t in enumerate(docs):
        s = np.concatenate([[SOD], np.asarray(t, dtype=np.int64)])
        n = len(t)
        i = np.arange(1, n + 2)                      # target positions
        y = np.concatenate([s[1:], [EOD]])
        k, j = (i - 1) // b, (i - 1) % b + 1
        slot = np.arange(b)[None, :]
        idx = k[:, None] * b + slot
        valid = (slot >= 1) & (slot < j[:, None])
        blk = np.where(valid, s[np.minimum(idx, n)], PAD)
        blk[:, 0] = np.where(k == 0, SOD, FRG)
        ridx = i[:, None] - r + np.arange(r)[None, :]
        rad = np.where(ridx >= 0, s[np.maximum(ridx, 0)], PAD)
        blocks.append(blk.astype(np.int32))
        radials.append(rad.astype(np.int32))
        ys.append(y)
        dis.append(np.full(n + 1, di, dtype=np.int64))
        poss.append(i)
        seqs.append(s)
    if not ys:
        raise ValueError("no documents with tokens (expected at least one)")
    return Contexts(np.concatenate(blocks), np.concatenate(radials), np.concatenate(ys),
                    np.concatenate(dis), np.concatenate(poss), seqs)


def doc_means(ctx: Contexts, table: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Running mean of table rows over s_0..s_{i-1} for each target (M, D), float32."""
    out_parts = []
    for s in ctx.seqs:
        c = np.cumsum(table[s].astype(np.float64), axis=0)
        out_parts.append((c / np.arange(1, len(s) + 1)[:, None]).astype(np.float32))
    # Rows of target i use the mean over the first i ids: index i - 1 in the document's cumsum.
    starts = np.cumsum([0] + [len(s) for s in ctx.seqs[:-1]])
    allm = np.concatenate(out_parts)
    sel = starts[ctx.doc_index] + ctx.pos - 1
    return allm[sel] if rows is None else allm[sel[rows]]
