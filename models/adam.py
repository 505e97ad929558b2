"""Adam with early stopping, for the optional backprop polish of explicitly fitted layers.

    opt = Adam([U, b], lr=10**-2.5)
    opt.step([gU, gb])          # updates U and b in place
"""
from __future__ import annotations

import numpy as np


class Adam:
    def __init__(self, params: list[np.ndarray], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


class EarlyStopping:
    """Keeps the best parameters by dev loss; stop() after `patience` epochs without improvement."""

    def __init__(self, params: list[np.ndarray], loss: float, patience: int = 2, min_delta: float = 1e-4):
        self.best_loss, self.best = loss, [p.copy() for p in params]
        self.patience, self.min_delta, self.bad = patience, min_delta, 0

    def update(self, params: list[np.ndarray], loss: float) -> bool:
        """Records an epoch's dev loss; returns True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best, self.bad = loss, [p.copy() for p in params], 0
            return False
        self.bad += 1
        return self.bad >= self.patience
