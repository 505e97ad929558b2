"""Letter case as slot evidence (docs/intent_model.md "Slot decoding").

    flags = case_flags(text, tokens)          # (n,) uint8, one bit per feature of CASE_FEATURES
    E = case_evidence(flags, slot_case)       # (n, S) float64, added to log p_slot

The tokenizer lower-cases, so the tagger's windows cannot see that "Lisa Simpson" or "The Beatles"
are written as names. These features are read from the original text before lower-casing and
enter decoding as a learned per-label score table `slot_case` (features x labels), summed over the
features a token has, like the known values' bonus. Only ASCII letters count. A text none of whose
tokens starts with a lower-case ASCII letter (spoken input in capitals, a title-cased line) carries
no case information: every flag is 0 there, and lower-case text (spoken input) gets no flag but
the one of a capitalised "I", so it decodes as without the table.
"""
from __future__ import annotations

import re

import numpy as np

# Bit f of a token's flags (the rows of slot_case, in this order):
CASE_FEATURES = (
    "capitalised",        # its first byte is A-Z and it is not the first token
    "capitalised_first",  # the first token, with a first byte A-Z
    "all_caps",           # its first byte is A-Z, another byte is A-Z and none is a-z
    "previous_capitalised",  # the token before it has flag "capitalised"
    "next_capitalised",      # the token after it has flag "capitalised"
)
N_CASE_FEATURES = len(CASE_FEATURES)


_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_ANY_UPPER = re.compile("[A-Z]")


def case_flag_list(text: str, tokens) -> list[int]:
    """The flags of case_flags as a list of ints (the training loop's form). Work is spent only
    on the capitalised tokens."""
    n = len(tokens)
    if _ANY_UPPER.search(text) is None:
        return [0] * n
    starts = [text[t.start] for t in tokens]
    if not _LOWER.intersection(starts):
        return [0] * n
    out = [0] * n
    for j in [j for j, c in enumerate(starts) if c in _UPPER]:
        if j:
            out[j] |= 1
            out[j - 1] |= 16
            if j + 1 < n:
                out[j + 1] |= 8
        else:
            out[0] |= 2
        word = text[tokens[j].start + 1:tokens[j].end]
        if _UPPER.intersection(word) and not _LOWER.intersection(word):
            out[j] |= 4
    return out


def case_flags(text: str, tokens) -> np.ndarray:
    """(n,) uint8 flags of the tokens (objects with .start/.end offsets into `text`, as
    tokenizer.tokenize gives them, already cut to the tokens the model reads)."""
    return np.array(case_flag_list(text, tokens), dtype=np.uint8)


def flag_matrix(flags: np.ndarray) -> np.ndarray:
    """(n, F) float64 0/1 of the flags' bits."""
    flags = np.asarray(flags, dtype=np.uint8)
    return ((flags[:, None] >> np.arange(N_CASE_FEATURES, dtype=np.uint8)[None, :]) & 1).astype(np.float64)


def case_evidence(flags: np.ndarray, slot_case: np.ndarray) -> np.ndarray:
    """(n, S) float64: the sum of slot_case's rows of each token's flags (0 without a flag), added
    feature by feature in CASE_FEATURES order, as every backend adds them."""
    table = np.asarray(slot_case, dtype=np.float64)
    E = np.zeros((len(flags), table.shape[1]))
    for f in range(N_CASE_FEATURES):
        on = (np.asarray(flags, dtype=np.uint8) >> f) & 1 == 1
        E[on] += table[f]
    return E
