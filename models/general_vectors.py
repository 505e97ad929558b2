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
     distance if within 1 edit (up to 8 letters; 2 up to 12, then 3), or one more when they share
     42% of their trigrams and differ in length by at most one ("tommorow" -> "tomorrow");
     words of 5+ letters only;
  3. digits: the longest letter run of a word with digits ("430pm" -> "pm");
  4. compound: two table words making up the word ("aboutthis" -> "about" + "this"), the mean of
     their vectors.
Real-word confusions remain ("tapas" -> "tapes"): `lookup` says which word stood in and how, so a
caller can weigh a fallback below an exact hit.
Numbers are not in the table (the intent model maps them to <num>) and get no vector.
"""
from __future__ import annotations

import re
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA  # C++ edit distance: the pure-Python one took a third of SNIPS training

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
_DOUBLED = ("ing", "ed", "er", "est", "ers")
# The rules by their suffix's last character, in rule order: a word is checked against only those.
_RULES_BY_LAST: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    c: tuple(rule for rule in _SUFFIX_RULES if rule[0][-1] == c) for c in {suf[-1] for suf, _ in _SUFFIX_RULES}}


def _suffix_candidates(word: str) -> list[str]:
    """Stems to try, in order. A stem keeps 4+ letters (3 for a plain plural, any for "'s"), so that
    "cred" is not "cr" nor "ingest" "ing"."""
    out: list[str] = []
    for suf, reps in _RULES_BY_LAST.get(word[-1:], ()):
        if not word.endswith(suf):
            continue
        stem = word[: len(word) - len(suf)]
        least = 1 if suf.startswith("'") or suf == "s'" else 3 if suf in ("s", "es") else 4
        out += [c for c in (stem + r for r in reps) if len(c) >= least and c != word]
        if suf in _DOUBLED and len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "aeiou":
            out.append(stem[:-1])  # stopping -> stop, fogging -> fog, bigger -> big
    return out


def _spelling_limit(n: int) -> tuple[int, int]:
    """Edits allowed for a word of n letters: (always, when half its trigrams are shared).
    1 up to 8 letters, 2 up to 12, then 3; one more for a close trigram match ("tommorow")."""
    strict = max(1, (n - 1) // 4)
    return strict, strict + 1 if n >= 7 else strict


_CLOSE_TRIGRAMS = 0.42  # Jaccard of the trigram sets: tommorow/tomorrow 0.45; charchar/charcoal 0.40


def _trigrams(word: str) -> set[str]:
    w = f"<{word}>"
    return {w[i:i + 3] for i in range(len(w) - 2)}


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
        self._grams: dict[int, np.ndarray] | None = None
        self._alphabet: dict[str, int] = {}
        self._lengths: np.ndarray | None = None
        self._spelt: dict[str, int | None] = {}   # spelling fallbacks found so far
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
            # The file opened here, not by np.load: numpy leaves its own handle open when a
            # truncated .npz fails to parse.
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
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
        """(table word standing in for `word`, how), or None. how is "exact", "suffix", "spelling",
        "digits" (the letters of "iphone7" or "430pm") or "compound" (two table words, "light+bulbs",
        whose vector is the mean of theirs)."""
        hit = self._resolve(word)
        return None if hit is None else ("+".join(self.words[i] for i in hit[0]), hit[1])

    def _resolve(self, word: str) -> tuple[tuple[int, ...], str] | None:
        return self._cached_lookup(word.lower().replace("\u2019", "'"))

    def _lookup(self, word: str) -> tuple[tuple[int, ...], str] | None:
        index = self.index
        if word in index:
            return (index[word],), "exact"
        if not word or is_number(word):
            return None  # numbers: <num> in the intent model
        for cand in _suffix_candidates(word):
            if cand in index:
                return (index[cand],), "suffix"
        if word.endswith("'s") and len(word) > 3:
            inner = self._lookup(word[:-2])  # "appleby's": whatever stands in for "appleby"
            return None if inner is None else (inner[0], inner[1] if inner[1] != "exact" else "suffix")
        hit = self._spelling(word)
        if hit is not None:
            return (hit,), "spelling"
        if any(c.isdigit() for c in word):
            letters = max(re.split(r"[0-9]+", word), key=len).strip("'")
            if len(letters) >= 2 and letters != word:
                inner = self._lookup(letters)
                if inner is not None:
                    return inner[0], "digits"
            return None
        parts = self._compound(word)
        return (parts, "compound") if parts is not None else None

    def _compound(self, word: str) -> tuple[int, int] | None:
        """Two table words that make up `word` ("aboutthis", "steakhouses"): the most even split;
        a 3-letter part must be one of the 1,000 most frequent words ("howcan", not "trench+ant")."""
        best, best_key = None, None
        for cut in range(3, len(word) - 2):
            a, b = self.index.get(word[:cut]), self.index.get(word[cut:])
            if a is None or b is None:
                continue
            if (cut == 3 and a >= 1000) or (len(word) - cut == 3 and b >= 1000):
                continue
            key = (-min(cut, len(word) - cut), max(a, b))
            if best_key is None or key < best_key:
                best, best_key = (a, b), key
        return best

    def _build_grams(self) -> None:
        # Posting lists keyed by first letter + trigram: a spelling candidate must share the
        # word's first letter, so only those words are counted (a tenth of the full lists). Built
        # with numpy over all the table's "<word>" strings at once; a key is the four characters'
        # alphabet indices packed into one integer (_gram_keys).
        padded = [f"<{w}>" for w in self.words]
        chars = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
        alphabet = np.sort(chars)
        alphabet = alphabet[np.concatenate([[True], np.diff(alphabet) != 0])]
        code = np.searchsorted(alphabet, chars)
        self._alphabet = {chr(c): i for i, c in enumerate(alphabet.tolist())}
        A = np.int64(len(alphabet))
        lengths = np.fromiter((len(p) for p in padded), np.int64, len(padded))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        owner = np.repeat(np.arange(len(padded), dtype=np.int64), lengths - 2)       # a word of n letters: n trigrams
        pos = np.arange(len(owner)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2) + starts[owner]
        code = code.astype(np.int64)
        keys = ((code[starts[owner] + 1] * A + code[pos]) * A + code[pos + 1]) * A + code[pos + 2]
        pairs = np.sort(keys * len(padded) + owner)
        pairs = pairs[np.concatenate([[True], np.diff(pairs) != 0])]                  # each word once per key
        keys, owner = pairs // len(padded), (pairs % len(padded)).astype(np.int32)    # sorted by key, then word
        cuts = np.flatnonzero(np.diff(keys)) + 1
        bounds = np.concatenate([[0], cuts, [len(keys)]]).tolist()
        self._grams = {k: owner[s:e] for k, s, e in zip(keys[bounds[:-1]].tolist(), bounds[:-1], bounds[1:])}
        self._lengths = np.fromiter((len(w) for w in self.words), np.int32, len(self.words))

    def _gram_keys(self, word: str) -> set[int]:
        """The posting keys of the trigrams of "<word>" among table words with its first letter
        (a trigram with a character no table word has matches nothing)."""
        ids = [self._alphabet.get(c, -1) for c in f"<{word}>"]
        A, first = len(self._alphabet), ids[1]
        if first < 0:
            return set()
        return {((first * A + ids[i]) * A + ids[i + 1]) * A + ids[i + 2]
                for i in range(len(ids) - 2) if min(ids[i], ids[i + 1], ids[i + 2]) >= 0}

    def _needing_spelling(self, words: list[str]) -> list[str]:
        """The words (normalised) whose lookup reaches the spelling step, or may: not in the
        table, not numbers, no suffix stem in the table ("appleby's": "appleby")."""
        out = []
        for w in words:
            w = w.lower().replace("\u2019", "'")
            if w.endswith("'s") and len(w) > 3 and not any(c in self.index for c in _suffix_candidates(w)):
                w = w[:-2]
            if len(w) >= 5 and w not in self.index and w not in self._spelt and not is_number(w) \
                    and not any(c in self.index for c in _suffix_candidates(w)):
                out.append(w)
        return out

    def _spelling(self, word: str) -> int | None:
        if word not in self._spelt:
            self._spell_many([word])
        return self._spelt[word]

    def _spell_many(self, words: list[str], candidates: int = 12) -> None:
        """The spelling fallback of each word into self._spelt (table row or None): the table words
        of similar length with the same first letter sharing the most trigrams with it, checked
        by edit distance (one batched C++ call for all the words' candidates). The trigram counts,
        the candidate ranking and the choice among candidates run over all the words at once."""
        todo = [w for w in dict.fromkeys(words) if w not in self._spelt]
        if not todo:
            return
        if self._grams is None:
            self._build_grams()
        assert self._grams is not None and self._lengths is not None
        spelt: list[str] = []     # the words that have candidates, and per word:
        n_grams: list[int] = []   # its trigram count
        sizes: list[int] = []     # how many posting entries its trigrams have
        lists: list[np.ndarray] = []
        for word in todo:
            self._spelt[word] = None
            if len(word) < 5:
                continue  # too short to tell a misspelling from another word ("lamp", "camp")
            found = [self._grams[k] for k in self._gram_keys(word) if k in self._grams]
            if not found:
                continue
            spelt.append(word)
            n_grams.append(len(_trigrams(word)))
            sizes.append(sum(map(len, found)))
            lists += found
        if not spelt:
            return
        # shared trigrams per (word, table row) of similar length: one sort of all the words'
        # posting entries, keyed (word << bits) | row
        bits = max(1, (len(self.words) - 1).bit_length())
        owner = np.repeat(np.arange(len(spelt), dtype=np.int64), sizes)
        rows = np.concatenate(lists).astype(np.int64)
        length = np.fromiter(map(len, spelt), np.int64, len(spelt))
        strict, limit = (np.array(x, np.int64) for x in zip(*map(_spelling_limit, length.tolist())))
        ok = np.abs(self._lengths[rows] - length[owner]) <= limit[owner]
        keys, shared = np.unique((owner[ok] << bits) | rows[ok], return_counts=True)
        if not keys.size:
            return
        # per word: most shared trigrams, then most frequent (lowest row), the first `candidates`
        most = int(shared.max())
        more = (most - shared).astype(np.int64)
        sbits = max(1, most.bit_length())
        order = np.sort(((keys >> bits) << (sbits + bits)) | (more << bits) | (keys & ((1 << bits) - 1)))
        w, ids = order >> (sbits + bits), order & ((1 << bits) - 1)
        shared = most - ((order >> bits) & ((1 << sbits) - 1))
        starts = np.flatnonzero(np.concatenate([[True], w[1:] != w[:-1]]))
        rank = np.arange(len(w)) - np.repeat(starts, np.diff(np.append(starts, len(w))))
        top = rank < candidates
        w, ids, shared = w[top], ids[top], shared[top]
        dist = process.cpdist([spelt[j] for j in w.tolist()], [self.words[i] for i in ids.tolist()],
                              scorer=OSA.distance, dtype=np.int32, workers=1).astype(np.int64)
        other = self._lengths[ids].astype(np.int64)
        jaccard = shared / (np.asarray(n_grams, np.int64)[w] + other - shared)  # n letters: about n trigrams
        close = (jaccard >= _CLOSE_TRIGRAMS) & (np.abs(other - length[w]) <= 1)
        good = (dist <= limit[w]) & ((dist <= strict[w]) | close)
        w, ids, shared, dist = w[good], ids[good], shared[good], dist[good]
        order = np.lexsort((ids, -shared, dist, w))   # per word: fewest edits, most shared, most frequent
        w, ids = w[order], ids[order]
        first = np.concatenate([[True], w[1:] != w[:-1]]) if len(w) else np.zeros(0, bool)
        for j, i in zip(w[first].tolist(), ids[first].tolist()):
            self._spelt[spelt[j]] = i

    # --- vectors ------------------------------------------------------------------------------------

    def row(self, i: int) -> np.ndarray:
        return self.vectors[i].astype(np.float32) * self.scale

    def _vector_of(self, rows: tuple[int, ...]) -> np.ndarray:
        if len(rows) == 1:
            return self.row(rows[0])
        return self.vectors[list(rows)].astype(np.float32).mean(0) * self.scale

    def vector(self, word: str, fallback: bool = True) -> np.ndarray | None:
        """float32 (dim,) for `word` (or what stands in for it, see lookup), None if there is none."""
        if not fallback:
            i = self.index.get(word.lower())
            return None if i is None else self.row(i)
        hit = self._resolve(word)
        return None if hit is None else self._vector_of(hit[0])

    def matrix(self, words: list[str], fallback: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(len(words), dim) float32 rows (zeros where not found) and the bool mask of found rows."""
        out = np.zeros((len(words), self.dim), np.float32)
        found = np.zeros(len(words), bool)
        single = np.full(len(words), -1, np.int64)
        if fallback:
            self._spell_many(self._needing_spelling(words))
        for k, w in enumerate(words):
            if not fallback:
                single[k] = self.index.get(w.lower(), -1)
                continue
            hit = self._resolve(w)
            if hit is None:
                continue
            if len(hit[0]) == 1:
                single[k] = hit[0][0]
            else:
                out[k], found[k] = self._vector_of(hit[0]), True
        one = single >= 0
        out[one] = self.vectors[single[one]].astype(np.float32) * self.scale
        found |= one
        return out, found

    def similarity(self, a: str, b: str) -> float | None:
        """Cosine of two words' vectors, None if either has none."""
        va, vb = self.vector(a), self.vector(b)
        if va is None or vb is None:
            return None
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))


@lru_cache(maxsize=None)
def default_table() -> GeneralVectors:
    """The shipped table, read once per process (its lookup cache and trigram index are shared)."""
    return GeneralVectors.load()
