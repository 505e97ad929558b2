"""Co-occurrence vectors (docs/method.md section 2): each type's neighbours' cipher codes, summed.

    S = cooc_sums(sequences, E, radius=2, mode="cat")   # (N, 2*radius*d) raw sums
    C = normalise_rows(S, E_noise)                       # non-negative, L1 = 1 per block

We keep the sums (not their log) and L1-normalise them per offset block: softmax(log S) is exactly
that normalisation, and it keeps features non-negative as the explicit solver requires.
"""
from __future__ import annotations

import numpy as np


def cooc_layout(E: np.ndarray, radius: int, mode: str) -> tuple[list[int], np.ndarray]:
    """The offsets -r..-1, +1..+r and the zeroed (N, d) or (N, 2*r*d) sums of a co-occurrence pass
    (the arguments checked); shared with the vectorised pass, features.cooc_sums."""
    if mode not in ("sum", "cat"):
        raise ValueError(f"cooc mode must be 'sum' or 'cat', got {mode!r}")
    if radius < 1:
        raise ValueError(f"cooc radius must be >= 1, got {radius}")
    N, d = E.shape
    offsets = [o for o in range(-radius, radius + 1) if o != 0]
    return offsets, np.zeros((N, d * (len(offsets) if mode == "cat" else 1)))


def cooc_sums(sequences: list[np.ndarray], E: np.ndarray, radius: int, mode: str = "sum") -> np.ndarray:
    """Sums E[neighbour] over every occurrence of each type within +-radius (offset 0 excluded).

    sequences: id arrays; positions outside a sequence contribute nothing.
    Returns (N, d) for mode "sum", (N, 2*radius*d) for mode "cat" (blocks ordered -r..-1, +1..+r).
    """
    offsets, out = cooc_layout(E, radius, mode)
    d = E.shape[1]
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        n = len(seq)
        for b, o in enumerate(offsets):
            if abs(o) >= n:
                continue
            centre = seq[max(0, -o):n - max(0, o)]
            neighbour = seq[max(0, o):n - max(0, -o)]
            block = slice(b * d, (b + 1) * d) if mode == "cat" else slice(0, d)
            np.add.at(out[:, block], centre, E[neighbour])
    return out


def normalise_blocks(S: np.ndarray, block: int, prior: np.ndarray) -> np.ndarray:
    """L1-normalises each width-`block` slice of each row after adding `prior` (d,), so unseen
    types get the prior and every entry stays > 0."""
    N, width = S.shape
    blocks = S.reshape(N, width // block, block) + prior[None, None, :]
    blocks = blocks / blocks.sum(axis=2, keepdims=True)
    return blocks.reshape(N, width)
