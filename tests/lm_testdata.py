"""Small corpora and models shared by the tests/test_lm_*.py files (not a test module itself).

synthetic_corpus() is a seeded toy grammar with real structure (so a model can beat the unigram).
Real text (tinyshakespeare) comes from the `shared_data` fixture of conftest.py.
"""
from __future__ import annotations

import numpy as np

SUBJECTS = ["the king", "the queen", "a knight", "my lord", "the fool", "good sir"]
VERBS = ["loves", "fears", "serves", "betrays", "follows", "greets"]
OBJECTS = ["the crown", "his brother", "the people", "her father", "the realm", "no man"]
ENDINGS = ["in rome", "at dawn", "with honour", "for gold", "and weeps", "3 times"]


def synthetic_corpus(n_docs: int = 120, seed: int = 0) -> str:
    """Documents of 2-6 sentences separated by blank lines; verbs depend on subjects, objects on verbs."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        sents = []
        for _ in range(rng.integers(2, 7)):
            s = int(rng.integers(len(SUBJECTS)))
            v = (s + int(rng.integers(2))) % len(VERBS)
            o = (v + int(rng.integers(2))) % len(OBJECTS)
            e = int(rng.integers(len(ENDINGS)))
            sents.append(f"{SUBJECTS[s]} {VERBS[v]} {OBJECTS[o]} {ENDINGS[e]}.")
        docs.append(" ".join(sents))
    return "\n\n".join(docs) + "\n"
