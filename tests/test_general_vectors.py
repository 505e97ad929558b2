"""The shipped general-English word vectors (runtime/data/general_english.npz) and their reader."""
from __future__ import annotations

import numpy as np
import pytest

from safu.models.general_vectors import DEFAULT_PATH, GeneralVectors, GeneralVectorsError


@pytest.fixture(scope="module")
def gv() -> GeneralVectors:
    return GeneralVectors.load()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_shipped_file_has_the_documented_layout(gv):
    assert DEFAULT_PATH.name == "general_english.npz" and DEFAULT_PATH.exists()
    with np.load(DEFAULT_PATH, allow_pickle=False) as f:
        assert {"words", "vectors", "scale", "zipf", "source"} <= set(f.files)
        assert f["words"].dtype == np.uint8 and f["vectors"].dtype == np.int8
        assert f["scale"].dtype == np.float32 and f["scale"].shape == (f["vectors"].shape[1],)
    assert gv.dim == 256 and gv.vectors.shape == (len(gv), 256)
    assert len(gv) >= 20000
    assert gv.words[:3] == ["the", "to", "and"]  # frequency order
    assert "all-MiniLM-L6-v2" in gv.source
    assert DEFAULT_PATH.stat().st_size < 10_000_000
    v = gv.vector("kitchen")
    assert v is not None and v.dtype == np.float32 and v.shape == (256,)


def test_related_words_are_closer_than_unrelated_ones(gv):
    for word, related, unrelated in [("lights", "lamp", "pizza"), ("weather", "rain", "song"),
                                     ("music", "song", "thermostat"), ("euro", "dollar", "kitchen"),
                                     ("alarm", "clock", "pasta"), ("pizza", "burger", "lamp")]:
        for w in (word, related, unrelated):
            assert w in gv, w
        assert gv.similarity(word, related) > gv.similarity(word, unrelated) + 0.1, (word, related, unrelated)


def test_matrix_rows_match_vector_and_mask_the_unknown(gv):
    m, found = gv.matrix(["turn", "on", "xqzvbk", "lights"])
    assert m.shape == (4, gv.dim) and m.dtype == np.float32
    assert found.tolist() == [True, True, False, True]
    assert not m[2].any()
    np.testing.assert_array_equal(m[3], gv.vector("lights"))
    assert gv.vector("xqzvbk") is None
    assert gv.vector("42") is None  # numbers are <num> in the intent model
    m, found = gv.matrix(["thermostats", "aboutthis", "lights"])
    assert found.tolist() == [True, True, True]
    np.testing.assert_array_equal(m[0], gv.vector("thermostat"))
    np.testing.assert_array_equal(m[1], gv.vector("aboutthis"))
    _, found = gv.matrix(["thermostats", "aboutthis", "lights"], fallback=False)
    assert found.tolist() == [False, False, True]


def _without(gv: GeneralVectors, drop: set[str]) -> GeneralVectors:
    keep = [i for i, w in enumerate(gv.words) if w not in drop]
    return GeneralVectors([gv.words[i] for i in keep], gv.vectors[keep], gv.scale)


def test_suffix_fallback_maps_inflections_to_their_stem(gv):
    assert _cos(gv.vector("euros"), gv.vector("euro")) > 0.8
    small = _without(gv, {"euros", "mailed", "playing"})
    assert small.lookup("euros") == ("euro", "suffix")
    np.testing.assert_array_equal(small.vector("euros"), gv.vector("euro"))
    assert small.vector("euros", fallback=False) is None
    assert small.lookup("mailed") == ("mail", "suffix")
    assert small.lookup("playing") == ("play", "suffix")
    assert "kitchen's" not in gv and gv.lookup("kitchen's") == ("kitchen", "suffix")
    assert "thermostats" not in gv and gv.lookup("thermostats") == ("thermostat", "suffix")


def test_spelling_fallback_finds_misspelt_words(gv):
    assert gv.lookup("tommorow") == ("tomorrow", "spelling")
    assert gv.lookup("temprature") == ("temperature", "spelling")
    assert _cos(gv.vector("thermostatt"), gv.vector("thermostat")) == pytest.approx(1.0)
    assert gv.lookup("lamq") is None  # short words are not guessed at
    assert gv.lookup("churlish") is None  # 2 edits from "cherish" but few shared trigrams
    assert gv.lookup("qqqqqqqq") is None


def test_spelling_in_a_batch_is_the_spelling_of_each_word_alone(gv):
    words = ["tommorow", "temprature", "thermostatt", "Kitchenn", "appleby's", "churlish", "lamq", "qqqqqqqq",
             "brekfast", "restaraunt", "kitchen", "euros", "xylophonne", "tomorow", "wheather", "alarrm"]
    alone = GeneralVectors(gv.words, gv.vectors, gv.scale)   # fresh lookup caches
    expected = [alone.lookup(w) for w in words]            # one word at a time
    batch = GeneralVectors(gv.words, gv.vectors, gv.scale)
    m, found = batch.matrix(words)                           # the spelling step for all of them at once
    assert [batch.lookup(w) for w in words] == expected
    assert found.tolist() == [e is not None for e in expected]
    assert sum(e is not None and e[1] == "spelling" for e in expected) >= 8
    for w, row in zip(words, m):
        np.testing.assert_array_equal(row, alone.vector(w) if alone.vector(w) is not None else 0 * row)


def test_spelling_of_many_words_at_once_is_each_word_alone(gv):
    # Hundreds of words in one batch (their trigram counts, candidate ranks and choices are computed
    # together): a dropped, a doubled and a changed letter of table words, each checked one at a time.
    words = []
    for k, w in enumerate(w for w in gv.words[:3000:10] if len(w) >= 6 and w.isalpha()):
        i = 1 + k % (len(w) - 2)
        words += [w[:i] + w[i + 1:], w[:i] + w[i] + w[i:], w[:i] + "qzx"[k % 3] + w[i + 1:]]
    alone = GeneralVectors(gv.words, gv.vectors, gv.scale)
    expected = [alone.lookup(w) for w in words]
    batch = GeneralVectors(gv.words, gv.vectors, gv.scale)
    batch.matrix(words)
    assert len(batch._spelt) >= 300                        # the batch did the spelling step for them
    assert [batch.lookup(w) for w in words] == expected
    assert sum(e is not None and e[1] == "spelling" for e in expected) >= len(words) // 3


def test_digit_and_compound_fallbacks(gv):
    assert "iphone" in gv and gv.lookup("430pm") == ("pm", "digits")
    assert "aboutthis" not in gv and gv.lookup("aboutthis") == ("about+this", "compound")
    expected = (gv.vectors[gv.index["about"]].astype(np.float32)
                + gv.vectors[gv.index["this"]].astype(np.float32)) / 2 * gv.scale
    np.testing.assert_allclose(gv.vector("aboutthis"), expected, rtol=1e-6)
    assert gv.lookup("trenchant") is None  # not "trench" + "ant": a 3-letter part must be frequent


def test_uppercase_and_curly_apostrophes_are_normalised(gv):
    assert gv.lookup("you\u2019re") == ("you're", "exact")
    np.testing.assert_array_equal(gv.vector("Kitchen"), gv.vector("kitchen"))


def _write(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def _good_arrays(n=3, d=4):
    words = "\n".join(["a", "b", "c"][:n]).encode()
    return dict(words=np.frombuffer(words, np.uint8), vectors=np.ones((n, d), np.int8),
                scale=np.ones(d, np.float32))


def test_a_small_valid_file_loads(tmp_path):
    gv = GeneralVectors.load(_write(tmp_path / "ok.npz", **_good_arrays()))
    assert len(gv) == 3 and gv.dim == 4 and gv.vector("b").tolist() == [1.0] * 4


@pytest.mark.parametrize("change, message", [
    (dict(vectors=np.ones((3, 4), np.float32)), "'vectors' must be a 2-D int8 array"),
    (dict(scale=np.ones(4, np.float64)), "'scale' must be float32"),
    (dict(scale=np.ones(5, np.float32)), "'scale' must be float32 of shape (4,)"),
    (dict(vectors=np.ones((2, 4), np.int8)), "3 words but 2 vector rows"),
    (dict(words=np.array([1, 2, 3], np.int32)), "'words' must be a 1-D uint8 array"),
    (dict(words=np.frombuffer(b"a\na\nb", np.uint8)), "empty or repeated word"),
])
def test_a_bad_file_names_itself_and_what_is_wrong(tmp_path, change, message):
    path = _write(tmp_path / "bad.npz", **{**_good_arrays(), **change})
    with pytest.raises(GeneralVectorsError) as e:
        GeneralVectors.load(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_a_missing_array_is_named(tmp_path):
    arrays = _good_arrays()
    del arrays["scale"]
    path = _write(tmp_path / "noscale.npz", **arrays)
    with pytest.raises(GeneralVectorsError, match="missing array 'scale'") as e:
        GeneralVectors.load(path)
    assert str(path) in str(e.value)


def test_a_truncated_or_missing_file_names_itself(tmp_path):
    whole = DEFAULT_PATH.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GeneralVectorsError) as e:
        GeneralVectors.load(cut)
    assert str(cut) in str(e.value) and "not a readable general-vectors .npz file" in str(e.value)
    with pytest.raises(GeneralVectorsError, match="not found") as e:
        GeneralVectors.load(tmp_path / "absent.npz")
    assert isinstance(e.value, ValueError)
