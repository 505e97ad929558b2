"""Small corpora and models shared by the tests/test_lm_*.py files (not a test module itself).

synthetic_corpus() is a seeded toy grammar with real structure (so a model can beat the unigram);
shakespeare_slice() reads tinyshakespeare if the shared data is present and returns None otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

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


def shared_data() -> Path | None:
    here = Path(__file__).resolve().parent.parent
    for base in (os.environ.get("SAFU_SHARED_DATA"), here.parent / "shared" / "data", Path("/work/shared/data")):
        if base and (Path(base) / "tinyshakespeare" / "input.txt").exists():
            return Path(base)
    return None


def shakespeare_slice(n_chars: int) -> str | None:
    base = shared_data()
    if base is None:
        return None
    return (base / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:n_chars]
