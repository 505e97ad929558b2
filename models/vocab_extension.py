"""Vocabulary extension: general-English words training never saw become tokens of their own.

    words = extension_words(vocab_tokens, aliases, 5000)
    tokens, tensors = extend_model(vocab_tokens, tensors, words, general_dims=64, general_scale=1 / 4)

A test sentence often holds a word no training sentence had. An alias (models/word_aliases.py) reads
it as a vocabulary word when the general table (models/general_vectors.py) puts one close enough;
the rest would be read as `<unk>` and bring no evidence. With `IntentConfig.general_extra_words = n`
the n most frequent table words that are neither tokens nor aliases are appended to the vocabulary
as words with no training count, so every tokenizer (Python, C++, C export) reads them as
themselves with no runtime change. Each one's rows are those of `<unk>` (what an unseen word gets),
except the general-English block of its token row, which holds its own general vector:

- token_table: the `<unk>` row with its last `general_dims` columns replaced by the word's general
  block (models/intent_model.general_block, times the row's block scale);
- intent_U: the bag-of-words row of `<unk>`, inserted after the training words' rows (the bigram and
  dense rows follow them);
- slot_U: the word-identity row of `<unk>`, appended.

So such a word differs from `<unk>` only through the dense features (the mean and attention-pooled
rows, the slot windows), by what the fitted layers make of its general vector.
"""
from __future__ import annotations

import numpy as np

from safu.models.general_vectors import default_table
from safu.models.tokenizer import SPECIALS, UNK, is_number
from safu.models.word_aliases import _one_token


def extension_words(tokens: list[str], aliases: dict, n: int) -> list[str]:
    """The `n` most frequent table words that are not in `tokens`, not in `aliases`, not numbers,
    and read by the tokenizer as one token (table order: most frequent first)."""
    if n <= 0:
        return []
    taken = set(tokens) | set(aliases) | set(SPECIALS)
    out = []
    for w in default_table().words:
        if len(out) >= n:
            break
        if w not in taken and not is_number(w) and _one_token(w):
            out.append(w)
    return out


def extend_model(tokens: list[str], tensors: dict, words: list[str], general_dims: int,
                 general_scale: float, slot_radius: int) -> tuple[list[str], dict]:
    """(tokens + words, tensors with their rows) for the words of extension_words (module text).
    `general_scale`: the factor of the general block in a token row (1 / the row's block count);
    `slot_radius`: the slot window radius (slot_U's window rows come first). Raises ValueError for
    a word already in `tokens` or a model without general columns."""
    if not words:
        return list(tokens), dict(tensors)
    from safu.models.intent_model import general_block

    index = set(tokens)
    if any(w in index for w in words):
        raise ValueError("extend_model: a word to add is already a token")
    R = np.asarray(tensors["token_table"])
    N, D = R.shape
    g = min(general_dims, D)
    if g <= 0:
        raise ValueError("extend_model: the model has no general-English columns (general_dims = 0)")
    if N != len(tokens):
        raise ValueError(f"extend_model: token_table has {N} rows for {len(tokens)} tokens")
    M = len(words)
    rows = np.repeat(R[UNK:UNK + 1], M, axis=0)
    rows[:, D - g:] = general_block(words, g) * general_scale
    out = dict(tensors)
    out["token_table"] = np.concatenate([R, rows.astype(R.dtype)])
    U = np.asarray(tensors["intent_U"])
    out["intent_U"] = np.concatenate([U[:N], np.repeat(U[UNK:UNK + 1], M, axis=0), U[N:]])
    S = np.asarray(tensors["slot_U"])
    K = 2 * slot_radius + 1
    if S.shape[0] != K * D + N:
        raise ValueError(f"extend_model: slot_U has {S.shape[0]} rows, expected {K * D + N}")
    out["slot_U"] = np.concatenate([S, np.repeat(S[K * D + UNK:K * D + UNK + 1], M, axis=0)])
    return list(tokens) + list(words), out
