"""The SAFU (self-attentive feed-forward unit) building blocks (docs/method.md section 4).

For K context features X_m (K, D) and a head row x_h:
    Q_m = X_m x_h;  a_m = -log softmax(Q_m W);  H_m = a_m X_m (sum) or vec(a_m[:, None] X_m) (cat)
W (K, K) is fitted explicitly from internal targets V (fit_W); U by solver.explicit_fit.
"""
from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Row-wise log softmax; masked-out entries (mask False) are excluded and returned as 0."""
    if mask is not None:
        z = np.where(mask, z, -np.inf)
    m = np.max(z, axis=-1, keepdims=True)
    out = z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return np.where(mask, out, 0.0) if mask is not None else out


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def attention(Q: np.ndarray, W: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """a = -log softmax(Q W), (M, K); with a mask (M, K) the softmax runs over valid positions and
    invalid positions get weight 0. Q must already be zero where masked."""
    return -log_softmax(Q @ W, mask)


def pool(a: np.ndarray, X: np.ndarray, mode: str) -> np.ndarray:
    """H from weights a (M, K) and features X (M, K, D): sum -> (M, D), cat -> (M, K*D)."""
    if mode == "sum":
        return np.einsum("mk,mkd->md", a, X)
    if mode == "cat":
        return (a[:, :, None] * X).reshape(len(a), -1)
    raise ValueError(f"SAFU mode must be 'sum' or 'cat', got {mode!r}")


def internal_targets(U: np.ndarray, H: np.ndarray, y: np.ndarray, X: np.ndarray, mode: str,
                     n_classes_for_c: int) -> np.ndarray:
    """V (M, K): V_(m,k) = [U[:, y_m] - U softmax(H_m U) + c] . X_(m,k), c = 2 (1 + 1/K) log N.

    For cat mode the D-block of U that belongs to position k is used. N is `n_classes_for_c`.
    """
    M, K, D = X.shape
    P = softmax(H @ U)  # (M, C)
    c = 2.0 * (1.0 + 1.0 / K) * np.log(max(n_classes_for_c, 2))
    G = U[:, y].T - P @ U.T  # (M, rows of U): gradient-like target direction
    if mode == "sum":
        return np.einsum("md,mkd->mk", G + c, X)
    return np.einsum("mkd,mkd->mk", G.reshape(M, K, D) + c, X)


def fit_W(Q: np.ndarray, V: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """W = log F - ((K_W - 1)/K_W) log colsum F with F = Q^T V (K, K) and K_W = log K."""
    K = Q.shape[1]
    F = np.maximum(Q.T @ np.maximum(V, 0.0), floor)
    K_W = np.log(K) if K > 1 else 1.0
    return np.log(F) - ((K_W - 1.0) / K_W) * np.log(F.sum(axis=0, keepdims=True))
