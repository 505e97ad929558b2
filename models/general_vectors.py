"""General-English word vectors shipped with the package (runtime/data/general_english.npz).

    gv = GeneralVectors.load()            # the shipped table
    gv.vector("lights")                   # float32 (gv.dim,), or None
    m, found = gv.matrix(["turn", "on", "lamps"])
    gv.lookup("mailed")                   # ("mail", "suffix"): which table word stands in, and how

The table (built by scripts/build_general_vectors.py, distilled from all-MiniLM-L6-v2) holds the most
frequent English words in frequency order, each a centred PCA vector stored as int8 with one float32
scale per dimension; cosine is the similarity. A word not in the table falls back to a table word:
  1. suffix stripping: "'s", plurals, "-ed", "-ing", "-ly", "-er"/"-est" ("euros" -> "euro",
     "mailed" -> "mail", "stopping" -> "stop", "baked" -> "bake");
  2. spelling: the table words of similar length sharing the most character trigrams with it
     (inverted index, built on first use) and starting with the same letter, the closest by edit
     distance if within max(1, len // 4) edits ("tommorow" -> "tomorrow"); words of 5+ letters only.
Numbers are not in the table (the intent model maps them to <num>) and get no vector.
"""
from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from safu.models.tokenizer import is_number

# models/ is safu/models and runtime/ is safu/runtime, in a source tree and in an installed wheel alike
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "runtime" / "data" / "general_english.npz"


class GeneralVectorsError(ValueError):
    """A general-vectors file that is missing, unreadable or not of the documented layout."""


_SUFFIX_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (suffix, replacements tried in order); a doubled final consonant is also undone for -ed/-ing/-er/-est
    ("'s", ("",)), ("s'", ("s", "")), ("'", ("",)),
    ("ies", ("y",)), ("ied", ("y",)), ("ier", ("y",)), ("iest", ("y",)), ("ily", ("y",)),
    ("ing", ("", "e")), ("ed", ("", "e")), ("es", ("", "e")), ("s", ("",)),
    ("ly", ("", "le")), ("est", ("", "e")), ("er", ("", "e")), ("ers", ("", "e", "er")),
    ("ness", ("",)), ("ment", ("",)), ("ful", ("",)),
)
_MIN_STEM = 3


def _suffix_candidates(word: str) -> list[str]:
    out: list[str] = []
    for suf, reps in _SUFFIX_RULES:
        if not word.endswith(suf) or len(word) - len(suf) < _MIN_STEM - 1:
            continue
        stem = word[: len(word) - len(suf)]
        for r in reps:
            out.append(stem + r)
        if suf in ("ing", "ed", "er", "est", "ers") and len(stem) >= _MIN_STEM and stem[-1] == stem[-2] \
                and stem[-1] not in "aeiou":
            out.append(stem[:-1])  # stopping -> stop, bigger -> big
    return [c for c in out if len(c) >= _MIN_STEM - 1 and c != word]


def _trigrams(word: str) -> set[str]:
    w = f"<{word}>"
    return {w[i:i + 3] for i in range(len(w) - 2)}


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1); > limit once it is certain."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


class GeneralVectors:
    """A word -> vector table with a subword fallback; numpy only."""

    def __init__(self, words: list[str], vectors: np.ndarray, scale: np.ndarray,
                 zipf: np.ndarray | None = None, source: str = "", path: Path | None = None):
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors  # int8 (n, dim)
        self.scale = scale      # float32 (dim,)
        self.zipf = zipf        # float32 (n,) or None
        self.source = source
        self.path = path
        self._grams: dict[str, np.ndarray] | None = None
        self._lengths: np.ndarray | None = None
        self._first: np.ndarray | None = None
        self._cached_lookup = lru_cache(maxsize=65536)(self._lookup)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @classmethod
    def load(cls, path: str | Path | None = None) -> "GeneralVectors":
        """Reads a table written by scripts/build_general_vectors.py (default: the shipped one)."""
        path = Path(path) if path is not None else DEFAULT_PATH
        if not path.exists():
            raise GeneralVectorsError(f"{path}: general-vectors file not found")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise GeneralVectorsError(f"{path}: not a readable general-vectors .npz file ({e})") from e
        for key in ("words", "vectors", "scale"):
            if key not in arrays:
                raise GeneralVectorsError(f"{path}: missing array '{key}' (has {sorted(arrays)})")
        raw, vectors, scale = arrays["words"], arrays["vectors"], arrays["scale"]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise GeneralVectorsError(f"{path}: 'words' must be a 1-D uint8 array of UTF-8 text, "
                                      f"got {raw.dtype} shape {raw.shape}")
        if vectors.dtype != np.int8 or vectors.ndim != 2:
            raise GeneralVectorsError(f"{path}: 'vectors' must be a 2-D int8 array, got {vectors.dtype} "
                                      f"shape {vectors.shape}")
        if scale.dtype != np.float32 or scale.shape != (vectors.shape[1],):
            raise GeneralVectorsError(f"{path}: 'scale' must be float32 of shape ({vectors.shape[1]},), "
                                      f"got {scale.dtype} shape {scale.shape}")
        if not np.all(np.isfinite(scale)):
            raise GeneralVectorsError(f"{path}: 'scale' holds a non-finite value")
        try:
            words = raw.tobytes().decode("utf-8").split("\n") if raw.size else []
        except UnicodeDecodeError as e:
            raise GeneralVectorsError(f"{path}: 'words' is not UTF-8 ({e})") from e
        if len(words) != vectors.shape[0]:
            raise GeneralVectorsError(f"{path}: {len(words)} words but {vectors.shape[0]} vector rows")
        if len(set(words)) != len(words) or "" in words:
            raise GeneralVectorsError(f"{path}: 'words' holds an empty or repeated word")
        zipf = arrays.get("zipf")
        if zipf is not None and (zipf.dtype != np.float32 or zipf.shape != (len(words),)):
            raise GeneralVectorsError(f"{path}: 'zipf' must be float32 of shape ({len(words)},), "
                                      f"got {zipf.dtype} shape {zipf.shape}")
        src = arrays.get("source")
        source = src.tobytes().decode("utf-8", "replace") if src is not None and src.dtype == np.uint8 else ""
        return cls(words, vectors, scale, zipf, source, path)

    # --- lookup -------------------------------------------------------------------------------------

    def lookup(self, word: str) -> tuple[str, str] | None:
        """(table word standing in for `word`, how: "exact" | "suffix" | "spelling"), or None."""
        return self._cached_lookup(word.lower())

    def _lookup(self, word: str) -> tuple[str, str] | None:
        if word in self.index:
            return word, "exact"
        if not word or is_number(word):
            return None  # numbers: <num> in the intent model
        for cand in _suffix_candidates(word):
            if cand in self.index:
                return cand, "suffix"
        hit = self._spelling(word)
        return (hit, "spelling") if hit is not None else None

    def _build_grams(self) -> None:
        posting: dict[str, list[int]] = {}
        for i, w in enumerate(self.words):
            for g in _trigrams(w):
                posting.setdefault(g, []).append(i)
        self._grams = {g: np.asarray(ids, np.int32) for g, ids in posting.items()}
        self._lengths = np.fromiter((len(w) for w in self.words), np.int32, len(self.words))
        self._first = np.fromiter((ord(w[0]) for w in self.words), np.int32, len(self.words))

    def _spelling(self, word: str, candidates: int = 12) -> str | None:
        if len(word) < 5:
            return None  # too short to tell a misspelling from another word ("lamp", "camp")
        if self._grams is None:
            self._build_grams()
        assert self._grams is not None and self._lengths is not None
        grams = _trigrams(word)
        lists = [self._grams[g] for g in grams if g in self._grams]
        if not lists:
            return None
        ids, shared = np.unique(np.concatenate(lists), return_counts=True)
        limit = max(1, len(word) // 4)
        ok = np.abs(self._lengths[ids] - len(word)) <= limit
        ok &= self._first[ids] == ord(word[0])  # typos seldom hit the first letter ("baked" is not "naked")
        ids, shared = ids[ok], shared[ok]
        if ids.size == 0:
            return None
        order = np.lexsort((ids, -shared))[:candidates]  # most shared trigrams, then most frequent
        best, best_key = None, None
        for k in order:
            i = int(ids[k])
            d = _edit_distance(word, self.words[i], limit)
            if d <= limit:
                key = (d, -int(shared[k]), i)
                if best_key is None or key < best_key:
                    best, best_key = self.words[i], key
        return best

    # --- vectors ------------------------------------------------------------------------------------

    def row(self, i: int) -> np.ndarray:
        return self.vectors[i].astype(np.float32) * self.scale

    def vector(self, word: str, fallback: bool = True) -> np.ndarray | None:
        """float32 (dim,) for `word` (or the table word standing in for it), None if there is none."""
        if not fallback:
            i = self.index.get(word.lower())
            return None if i is None else self.row(i)
        hit = self.lookup(word)
        return None if hit is None else self.row(self.index[hit[0]])

    def matrix(self, words: list[str], fallback: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(len(words), dim) float32 rows (zeros where not found) and the bool mask of found rows."""
        idx = np.full(len(words), -1, np.int64)
        for k, w in enumerate(words):
            if fallback:
                hit = self.lookup(w)
                if hit is not None:
                    idx[k] = self.index[hit[0]]
            else:
                idx[k] = self.index.get(w.lower(), -1)
        found = idx >= 0
        out = np.zeros((len(words), self.dim), np.float32)
        out[found] = self.vectors[idx[found]].astype(np.float32) * self.scale
        return out, found

    def similarity(self, a: str, b: str) -> float | None:
        """Cosine of two words' vectors, None if either has none."""
        va, vb = self.vector(a), self.vector(b)
        if va is None or vb is None:
            return None
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))
