"""Bit cipher (docs/method.md section 1): deterministic low-dimensional codes ranked by frequency.

    cipher_codes(15, 4)[4] -> [0, 0, 1, 1]      # rank 5 gets the first norm-2 code
    E = cipher_embeddings(counts, d=32)         # (N, d), rows L1 = 1, noised so every entry > 0
"""
from __future__ import annotations

import numpy as np


def cipher_codes(n: int, d: int) -> np.ndarray:
    """Returns Z (n, d) uint8: the codes of ranks 1..n in order. Raises ValueError if n > 2**d - 1.

    Codes are handled as bit masks (bit j = column j); |B_j - e_i| on 0/1 vectors is B_j XOR e_i,
    and it has norm k exactly when e_i is not already in the norm-(k-1) code B_j.
    """
    if d < 1 or n < 0:
        raise ValueError(f"cipher needs d >= 1 and n >= 0, got n={n}, d={d}")
    if d > 62:
        raise ValueError(f"cipher width d={d} is above the supported 62 bits")
    if n > 2**d - 1:
        raise ValueError(f"a {d}-bit cipher holds {2**d - 1} codes, {n} requested; raise d")
    basis = np.array([1 << j for j in range(d)], dtype=np.int64)
    codes = [basis[:n]]
    have = min(n, d)
    # Step 2: reverse the basis and the norm-1 list before building higher norms.
    basis = basis[::-1]
    level = basis.copy()
    while have < n:
        # outer loop over basis vectors i, inner over previous-level codes j: row-major (i, j) order
        cand = (level[None, :] | basis[:, None]).ravel()
        fresh = ((level[None, :] & basis[:, None]) == 0).ravel()
        cand = cand[fresh]
        _, first = np.unique(cand, return_index=True)
        new = cand[np.sort(first)]  # first occurrence order = the order the loop would keep them
        new = new[:n - have]
        codes.append(new)
        have += len(new)
        level = new[::-1]
    masks = np.concatenate(codes)
    return ((masks[:, None] >> np.arange(d)[None, :]) & 1).astype(np.uint8)


def frequency_ranks(counts: np.ndarray) -> np.ndarray:
    """Returns rank (0-based) of each id: descending count, ties broken by id."""
    order = np.lexsort((np.arange(len(counts)), -np.asarray(counts, dtype=np.float64)))
    ranks = np.empty(len(counts), dtype=np.int64)
    ranks[order] = np.arange(len(counts))
    return ranks


def cipher_embeddings(counts: np.ndarray, d: int, noise: bool = True) -> np.ndarray:
    """Returns E (N, d) float64 for types with the given counts (indexed by id).

    Rows are L1-normalised codes; with noise, E_n <- q_n E_n + (1 - q_n) p with q_n = f/(f+1) and p the
    normalised complement of the frequency-weighted mean code, so every entry is > 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    Z = cipher_codes(len(counts), d)[frequency_ranks(counts)].astype(np.float64)
    E = Z / Z.sum(axis=1, keepdims=True)
    if not noise:
        return E
    total = counts.sum()
    e = (counts[:, None] * E).sum(axis=0) / max(total, 1.0)
    p = (1.0 - e) / np.abs(1.0 - e).sum()
    q = (counts / (counts + 1.0))[:, None]
    return q * E + (1.0 - q) * p[None, :]
