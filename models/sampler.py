"""The sampler of docs/lm_model.md ("Sampling"): splitmix64 RNG and top-k / temperature picking.

    rng = SplitMix64(seed=42); rng.uniform()          # double in [0, 1), same sequence as the C++ core
    t = pick(logp, rng, temperature=0.8, top_k=40)   # or pick(logp, None, greedy=True)

Integer arithmetic is exact and the pick works in double precision in ascending id order, so the
numpy reference and the C++ core choose the same ids from the same distribution.
"""
from __future__ import annotations

import numpy as np

from .tokenizer import FRG, PAD, SOD

MASK64 = (1 << 64) - 1
NEVER_SAMPLED = (PAD, SOD, FRG)


class SplitMix64:
    def __init__(self, seed: int):
        self.state = int(seed) & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.next() >> 11) * 2.0 ** -53


def pick(logp: np.ndarray, rng: SplitMix64 | None, temperature: float = 1.0, top_k: int = 0,
         greedy: bool = False) -> int:
    """Returns the next id. Raises ValueError for temperature <= 0 or top_k < 0 (when sampling)."""
    cand = np.array([i for i in range(len(logp)) if i not in NEVER_SAMPLED], dtype=np.int64)
    lp = np.asarray(logp, dtype=np.float32)[cand]
    if greedy:
        return int(cand[int(np.argmax(lp))])  # argmax returns the first (lowest id) maximum
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    x = lp.astype(np.float64) / float(temperature)
    if 0 < top_k < len(cand):
        keep = np.lexsort((cand, -x))[:top_k]   # largest x first, ties by lower id
        keep.sort()                              # back to ascending id order
        cand, x = cand[keep], x[keep]
    w = np.exp(x - x.max())
    total = 0.0
    for v in w:                                  # sequential sum in ascending id order
        total += float(v)
    u = rng.uniform() * total
    c = 0.0
    for t, v in zip(cand, w):
        c += float(v)
        if c > u:
            return int(t)
    return int(cand[-1])
