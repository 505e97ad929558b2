"""The C++ tokenizer equals safu.models.tokenizer on many strings (byte offsets and tokens)."""
import random

import pytest

from safu.models import tokenizer

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

FIXED = [
    "", " ", "Turn ON the Kitchen-lights!", "don't it's 'quoted' rock'n'roll", "set 21.5 or 1,000. 1..2 1,",
    "a.b 1.a x'", "Café ÜBER naïve 東京 🙂 emoji", "tabs\tand\nnewlines\r\n", "12,5°C at 7:30",
    "'''", "a'", "'a", "1.2.3,4", "ÀB'C", "e\u0301 combining",
]


def _random_strings(n, seed=0):
    rng = random.Random(seed)
    alphabet = list("abcXYZ019 '.,-!?\t") + ["é", "ß", "東", "🙂", "\u00a0", "Ä"]
    for _ in range(n):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))


def _python_tokens(text):
    return [(tok.decode("utf-8", errors="replace"), s, e)
            for tok, s, e in tokenizer.tokenize_bytes(text.encode("utf-8"))]


def test_fixed_strings_match():
    for text in FIXED:
        assert core.tokenize(text) == _python_tokens(text), text


def test_random_strings_match():
    for text in _random_strings(3000):
        assert core.tokenize(text) == _python_tokens(text), repr(text)


def test_char_offsets_cut_the_same_text():
    for text in FIXED + list(_random_strings(300, seed=1)):
        py = tokenizer.tokenize(text)
        cc = core.tokenize(text)
        data = text.encode("utf-8")
        assert [data[s:e].decode("utf-8") for _, s, e in cc] == [text[t.start:t.end] for t in py]


def test_real_sentences_match(shared_data_dir=None):
    import os
    from pathlib import Path
    here = Path(__file__).resolve()
    candidates = [Path(p) for p in [os.environ.get("SAFU_SHARED_DATA")] if p] + [here.parents[1].parent / "shared" / "data"]
    root = next((p for p in candidates if p.is_dir()), None)
    if root is None:
        pytest.skip("shared/data not found next to the repo")
    files = sorted((root / "snips").rglob("*.json"))[:3] + sorted((root / "tinyshakespeare").rglob("*.txt"))[:1]
    if not files:
        pytest.skip("no SNIPS/tinyshakespeare text under shared/data")
    n = 0
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")[:200_000]
        for line in text.splitlines()[:5000]:
            assert core.tokenize(line) == _python_tokens(line), line
            n += 1
    assert n > 100
