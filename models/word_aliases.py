"""Word aliases: general-English words a model never saw in training, each read as a word it knows.

    aliases = word_aliases(vocab_tokens, min_cosine=0.7)   # {"washed": id of "wash", "sea": id of "ocean"}

A test sentence often holds a word that no training sentence had ("mailed", "euros", "sea"); the
tokenizer would read it as <unk> and the model would lose its evidence. The shipped general-English
table (models/general_vectors.py) knows most such words, so training stores, for each table word
that is not in the vocabulary, the vocabulary word that stands in for it:

1. an inflection of it by the table's suffix rules ("washed" -> "wash", "citizen's" -> "citizen");
2. otherwise its nearest vocabulary word by the cosine of their general vectors, when that cosine
   is at least `min_cosine` ("yup" -> "yep" 0.77, "sea" -> "ocean" 0.82).

The aliases go in the model file (`tokenizer.aliases`, `tokenizer.alias_ids`, docs/intent_model.md)
and every tokenizer (Python, C++, C export) looks a token up as: vocabulary, alias, <num>, <unk>.
Only words seen at least `min_count` times are targets (a name seen once says too little), and
only the MAX_TARGETS most frequent of them for the cosine.
Misspellings are not aliased (they are not table words); they stay <unk>.
"""
from __future__ import annotations

import re

import numpy as np

from safu.models.general_vectors import _SUFFIX_RULES, _suffix_candidates, default_table
from safu.models.tokenizer import SPECIALS, tokenize

TABLE_WORDS = 30000   # aliases are made for the table's most frequent words (all of the shipped one)
BLOCK = 4096          # table rows per cosine block (a block x targets float32 product)
MAX_TARGETS = 4000    # the most frequent training words are the cosine targets: the product costs
                      # table x targets x 256 (HA templates with wildcard fillers hold 20k+ words)


_PLAIN = re.compile("[a-z0-9]+")   # lower-case ASCII letters and digits: always one token, itself
_ENDINGS = tuple(suffix for suffix, _ in _SUFFIX_RULES)   # a word with none of them has no stem to try


def _one_token(word: str) -> bool:
    """True if the tokenizer reads `word` as itself ("e-mail" is two tokens: never looked up)."""
    if _PLAIN.fullmatch(word):
        return True
    toks = tokenize(word)
    return len(toks) == 1 and toks[0].text == word


def word_aliases(tokens: list[str], min_cosine: float, counts: dict | None = None,
                 min_count: int = 2) -> dict[str, int]:
    """{table word: vocabulary id} for the table words that are not in `tokens` (the vocabulary,
    specials first). `counts` (token -> training count) limits the targets to words seen at least
    `min_count` times; without it every word is a target."""
    if min_cosine <= 0:
        return {}
    table = default_table()
    index = {t: i for i, t in enumerate(tokens)}
    targets = [i for i, t in enumerate(tokens)
               if i >= len(SPECIALS) and (counts is None or counts.get(t, 0) >= min_count)]
    if not targets:
        return {}
    if counts is not None:   # the most frequent first, ties by id (the vocabulary's own order)
        targets = sorted(targets, key=lambda i: (-counts.get(tokens[i], 0), i))
    target_set = set(targets)
    out: dict[str, int] = {}

    # 1. inflections of a vocabulary word
    candidates = [w for w in table.words[:TABLE_WORDS] if w not in index and _one_token(w)]
    rest = []
    for w in candidates:
        hit = None
        if w.endswith(_ENDINGS):
            hit = next((index[s] for s in _suffix_candidates(w) if index.get(s) in target_set), None)
        if hit is not None:
            out[w] = hit
        else:
            rest.append(w)

    # 2. the nearest vocabulary word by the cosine of the general vectors
    near = targets[:MAX_TARGETS]
    V, found = table.matrix([tokens[i] for i in near])
    keep = np.flatnonzero(found)
    if keep.size == 0 or not rest:
        return out
    V = V[keep]
    V /= np.linalg.norm(V, axis=1, keepdims=True) + 1e-12
    target_ids = np.asarray(near)[keep]
    rows = np.fromiter((table.index[w] for w in rest), np.int64, len(rest))
    product = np.empty((min(BLOCK, len(rows)), len(V)), np.float32)   # one buffer for every block's
    for s in range(0, len(rows), BLOCK):                                # product (no fresh pages each time)
        block = table.vectors[rows[s:s + BLOCK]].astype(np.float32) * table.scale
        block /= np.linalg.norm(block, axis=1, keepdims=True) + 1e-12
        cos = np.matmul(block, V.T, out=product[:len(block)])
        best = cos.argmax(axis=1)
        good = cos[np.arange(len(best)), best] >= min_cosine
        for k in np.flatnonzero(good):
            out[rest[s + k]] = int(target_ids[best[k]])
    return out
