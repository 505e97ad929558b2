"""Tokenizer and vocabulary of docs/intent_model.md (byte-level rules, identical in C/C++).

    tokenize("Turn ON the lights!")  -> [Token("turn", 0, 4), Token("on", 5, 7), ...]
    vocab = Vocabulary(SPECIALS + ["turn", "on"]); vocab.encode("turn on 21.5 things", 64)
"""
from __future__ import annotations

import re
from functools import partial
from typing import NamedTuple

import numpy as np

SPECIALS = ["<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>"]
PAD, SOD, FRG, EOD, UNK, NUM = range(len(SPECIALS))


class Token(NamedTuple):
    text: str   # lower-cased token
    start: int  # char offset in the original string
    end: int


def _is_word_byte(b: int) -> bool:
    return b >= 0x80 or 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _is_digit(b: int) -> bool:
    return 0x30 <= b <= 0x39


def tokenize_bytes(data: bytes) -> list[tuple[bytes, int, int]]:
    """Returns (lower-cased token bytes, byte start, byte end) per token; the reference rules."""
    out, n, i = [], len(data), 0
    while i < n:
        if not _is_word_byte(data[i]):
            i += 1
            continue
        start = i
        while i < n:
            b = data[i]
            if _is_word_byte(b):
                i += 1
            elif b == 0x27 and i + 1 < n and _is_word_byte(data[i + 1]) and _is_word_byte(data[i - 1]):
                i += 1  # apostrophe inside a word
            elif b in (0x2E, 0x2C) and i + 1 < n and _is_digit(data[i + 1]) and _is_digit(data[i - 1]):
                i += 1  # decimal point or thousands separator inside a number
            else:
                break
        raw = data[start:i]
        out.append((bytes(c + 32 if 0x41 <= c <= 0x5A else c for c in raw), start, i))
    return out


# The same rules on str (non-ASCII chars are word chars, as their UTF-8 bytes are word bytes):
# a run of word chars, extended by "'" + word chars, or by [.,] + digit when a digit precedes.
_W = "A-Za-z0-9\u0080-\U0010ffff"
_TOKEN_RE = re.compile(f"[{_W}]+(?:'[{_W}]+|(?<=[0-9])[.,](?=[0-9])[{_W}]+)*")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_token = partial(tuple.__new__, Token)   # Token(text, start, end) without the per-call Python __new__


def tokenize(text: str) -> list[Token]:
    """Tokenises a str; offsets are char offsets into `text` (for cutting slot values).

    Equivalent to tokenize_bytes on the UTF-8 encoding (tested), but fast: findall (no match
    objects), each token's offset by str.find from the previous token's end (the text between two
    tokens holds no word char, so the first hit is the token), lower-casing of the whole text at once
    (the table maps ASCII letters one to one, so offsets are kept).
    """
    low = text.translate(_LOWER)
    find, spans, at = text.find, [], 0
    for word in _TOKEN_RE.findall(text):
        start = find(word, at)
        at = start + len(word)
        spans.append((low[start:at], start, at))
    return list(map(_token, spans))


_NUMBER_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)*")


def is_number(token: str) -> bool:
    """ASCII digits with '.'/',' joiners only between digits (what the tokenizer lets through)."""
    return _NUMBER_RE.fullmatch(token) is not None


class Vocabulary:
    """Token strings <-> ids; ids 0..5 are SPECIALS. `aliases` maps words that are not tokens to the
    id that stands in for them (models/word_aliases.py); they are looked up after the tokens."""

    def __init__(self, tokens: list[str], aliases: dict[str, int] | None = None):
        if list(tokens[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with the specials {SPECIALS}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.aliases = dict(aliases or {})

    @classmethod
    def from_metadata(cls, metadata: dict) -> "Vocabulary":
        """The vocabulary of a model file: tokenizer.vocab and the optional tokenizer.aliases /
        tokenizer.alias_ids (checked by export/intent_check.py)."""
        words = metadata.get("tokenizer.aliases", [])
        ids = metadata.get("tokenizer.alias_ids", [])
        return cls(list(metadata["tokenizer.vocab"]), {w: int(i) for w, i in zip(words, ids)})

    def __len__(self) -> int:
        return len(self.tokens)

    def lookup(self, token: str) -> int:
        i = self.index.get(token)
        if i is not None:
            return i
        i = self.aliases.get(token)
        if i is not None:
            return i
        return NUM if is_number(token) else UNK

    def encode(self, text: str, max_tokens: int) -> tuple[np.ndarray, list[Token]]:
        """Returns (ids int64, tokens), both cut to the first max_tokens tokens."""
        toks = tokenize(text)[:max_tokens]
        return np.array([self.lookup(t.text) for t in toks], dtype=np.int64), toks
