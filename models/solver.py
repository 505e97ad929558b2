"""The explicit (closed-form) solution of a softmax layer (docs/method.md section 3).

    F = cooccurrence(H, Y)                  # (D, C) = H^T Y, one pass over the data
    U = explicit_fit(F, K=mean_l1(H))       # U = log F - ((K - 1) / K) log colsum F

No gradient, no epochs. The minus sign and K = the mean input L1 norm follow docs/method.md.
"""
from __future__ import annotations

import numpy as np


def cooccurrence(H, Y: np.ndarray) -> np.ndarray:
    """F = H^T Y for dense or scipy-free sparse-by-rows inputs; H (M, D) >= 0, Y (M, C)."""
    return np.asarray(H.T @ Y, dtype=np.float64)


def explicit_fit(F: np.ndarray, K: float, floor: float = 1e-12) -> np.ndarray:
    """Returns U (D, C): U[j, i] = log F[j, i] - ((K - 1) / K) log sum_d F[d, i].

    F must be non-negative; entries are floored at `floor` so the log is finite. K > 0.
    """
    if K <= 0:
        raise ValueError(f"priming number K must be > 0, got {K}")
    if np.any(F < 0):
        raise ValueError("co-occurrence matrix F must be non-negative")
    F = np.maximum(F, floor)
    return np.log(F) - ((K - 1.0) / K) * np.log(F.sum(axis=0, keepdims=True))


def mean_l1(H: np.ndarray) -> float:
    """Average L1 norm of the rows of H (the default priming number K)."""
    return float(np.abs(H).sum(axis=1).mean()) if len(H) else 1.0
