"""Corpus handling for language models: documents, a capped word vocabulary, id sequences.

    docs = load_documents(["input.txt"])               # documents = blank-line separated paragraphs
    vocab, counts = build_vocabulary(docs, max_size=4096)
    seqs = encode_documents(vocab, docs)              # list of int64 arrays, one per non-empty document

Documents follow docs/lm_model.md: separated by one or more empty lines; the tokenizer is the
intent tokenizer (lower-case words, punctuation dropped).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from .tokenizer import EOD, FRG, PAD, SOD, SPECIALS, Vocabulary, is_number, tokenize

_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


def split_documents(text: str) -> list[str]:
    """Returns the non-blank paragraphs of text (split at one or more empty lines)."""
    text = text.replace("\r\n", "\n")
    return [d for d in _BLANK_LINES.split(text) if d.strip()]


def read_text(path) -> str:
    """Reads a UTF-8 file; raises OSError if missing, ValueError naming the byte offset if not UTF-8."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line}: byte offset {exc.start} is not valid UTF-8 "
                         f"(expected UTF-8 text)") from None


def load_documents(paths) -> list[str]:
    """Documents of all files in order. Raises ValueError if no file has a single token."""
    paths = list(paths)
    if not paths:
        raise ValueError("no corpus files given (expected one or more UTF-8 text files)")
    docs = []
    for p in paths:
        docs.extend(split_documents(read_text(p)))
    if not any(tokenize(d) for d in docs):
        names = ", ".join(str(p) for p in paths)
        raise ValueError(f"{names}: corpus has no tokens (expected text with at least one word)")
    return docs


def build_vocabulary(docs: list[str], max_size: int) -> Vocabulary:
    """SPECIALS + the most frequent words (ties: alphabetical) up to max_size entries in total.

    Numbers are left out (they map to <num>); everything else outside the cap maps to <unk>.
    """
    if max_size < len(SPECIALS) + 1:
        raise ValueError(f"vocabulary size must be >= {len(SPECIALS) + 1}, got {max_size}")
    counts = Counter(t.text for d in docs for t in tokenize(d) if not is_number(t.text))
    words = sorted(counts, key=lambda w: (-counts[w], w))[:max_size - len(SPECIALS)]
    return Vocabulary(SPECIALS + words)


def encode_documents(vocab: Vocabulary, docs: list[str]) -> list[np.ndarray]:
    """Token ids (int64) of each document; documents without tokens are skipped."""
    out = []
    for d in docs:
        ids = np.array([vocab.lookup(t.text) for t in tokenize(d)], dtype=np.int64)
        if len(ids):
            out.append(ids)
    return out


def type_counts(seqs: list[np.ndarray], n_types: int, block_size: int) -> np.ndarray:
    """Occurrences of each id in the model's sequences: words, one <sod> and one <eod> per document,
    one <frg> per later block; <pad> gets 0 (so its cipher row is the pure noise vector)."""
    counts = np.zeros(n_types, dtype=np.float64)
    for s in seqs:
        counts += np.bincount(s, minlength=n_types)
        counts[FRG] += len(s) // block_size  # n + 1 targets fill ceil((n+1)/b) blocks
    counts[SOD] += len(seqs)
    counts[EOD] += len(seqs)
    counts[PAD] = 0.0
    return counts
