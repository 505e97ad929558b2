"""Vocabulary extension (models/vocab_extension.py, IntentConfig.general_extra_words): table words that
training never saw become tokens whose rows are <unk>'s but for their general-English block; the
Python tokenizer, the numpy reference, the C++ core and the C export read them alike."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from safu.models.general_vectors import default_table
from safu.models.intent_model import IntentConfig, fit_intent_model
from safu.models.tokenizer import SPECIALS, UNK
from safu.models.vocab_extension import extend_model, extension_words
from safu.runtime.api import load
from safu.runtime.datasets.common import Example

sys.path.insert(0, str(Path(__file__).parent))

EXTRA = 300   # extension words of the test models (a small file, quick C build)


def _examples():
    out = []
    for device in ("lamp", "fan", "light", "heater"):
        for verb, intent in (("turn on", "TurnOn"), ("switch on", "TurnOn"), ("turn off", "TurnOff"),
                             ("switch off", "TurnOff"), ("what is the state of", "State")):
            for area in ("kitchen", "bedroom", "hall"):
                out.append(Example(text=f"{verb} the {area} {device}", intent=intent))
    return out


def _new_word(model, rank: int = 0) -> str:
    """The `rank`-th word of the model's extension (appended after the training words)."""
    base = len(model.vocab) - model.stats["extra_words"]
    return model.vocab[base + rank]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocab_extension")
    base = fit_intent_model(_examples(), IntentConfig(seed=1))
    ext = fit_intent_model(_examples(), IntentConfig(seed=1, general_extra_words=EXTRA))
    base.save(root / "base.safu")
    ext.save(root / "ext.safu")
    return {"root": root, "base": base, "ext": ext}


def test_extension_words_skip_tokens_aliases_and_numbers():
    words = default_table().words
    tokens = SPECIALS + words[:10]
    aliases = {words[10]: 6, words[11]: 7}
    got = extension_words(tokens, aliases, 25)
    assert len(got) == 25
    assert not set(got) & (set(tokens) | set(aliases))
    assert not any(w.isdigit() for w in got)
    rank = {w: i for i, w in enumerate(words)}
    assert [rank[w] for w in got] == sorted(rank[w] for w in got)   # the most frequent first
    assert got[0] == next(w for w in words[12:] if not w.isdigit())
    assert extension_words(tokens, aliases, 0) == []


def test_rows_are_unk_rows_but_for_the_general_block(models):
    base, ext = models["base"], models["ext"]
    N, M = len(base.vocab), ext.stats["extra_words"]
    assert M == EXTRA and ext.vocab[:N] == base.vocab
    assert ext.vocab[N:] == extension_words(base.vocab, base.stats["aliases"], EXTRA)
    R0, R = base.tensors["token_table"], ext.tensors["token_table"]
    D, g = R0.shape[1], ext.config.general_dims
    np.testing.assert_array_equal(R[:N], R0)                           # the training rows are untouched
    np.testing.assert_array_equal(R[N:, :D - g], np.repeat(R0[UNK:UNK + 1, :D - g], M, axis=0))
    assert np.abs(R[N:, D - g:] - R0[UNK, D - g:]).max(axis=1).min() > 0   # every word has its own vector
    U0, U = base.tensors["intent_U"], ext.tensors["intent_U"]
    np.testing.assert_array_equal(U[N:N + M], np.repeat(U0[UNK:UNK + 1], M, axis=0))
    np.testing.assert_array_equal(np.delete(U, np.s_[N:N + M], axis=0), U0)
    K = 2 * ext.config.slot_radius + 1
    S0, S = base.tensors["slot_U"], ext.tensors["slot_U"]
    np.testing.assert_array_equal(S[:len(S0)], S0)
    np.testing.assert_array_equal(S[len(S0):], np.repeat(S0[K * D + UNK:K * D + UNK + 1], M, axis=0))
    assert base.threshold == ext.threshold


@pytest.mark.parametrize("backend", ["core", "numpy"])
def test_known_words_predict_as_without_the_extension(models, backend):
    a, b = load(models["root"] / "base.safu", backend=backend), load(models["root"] / "ext.safu", backend=backend)
    for text in ("turn on the kitchen lamp", "switch off the hall heater", "what is the state of the fan"):
        p, q = a.predict(text), b.predict(text)
        assert (p.intent, p.slots) == (q.intent, q.slots)
        assert p.confidence == pytest.approx(q.confidence, abs=1e-6)


@pytest.mark.parametrize("backend", ["core", "numpy"])
def test_a_new_word_is_read_as_itself_and_changes_the_scores(models, backend):
    base, ext = load(models["root"] / "base.safu", backend=backend), load(models["root"] / "ext.safu", backend=backend)
    word = _new_word(models["ext"])
    assert base.vocab.lookup(word) == UNK
    assert ext.vocab.lookup(word) == len(models["base"].vocab)
    text = f"turn on the {word} lamp"
    p, q = base.predict(text), ext.predict(text)
    assert p.confidence != pytest.approx(q.confidence, abs=1e-7)   # its general vector is evidence


def test_backends_agree_on_new_words(models):
    path = models["root"] / "ext.safu"
    cpp, ref = load(path, backend="core"), load(path, backend="numpy")
    words = [_new_word(models["ext"], k) for k in (0, 7, 50, EXTRA - 1)]
    for text in [f"switch {w} the kitchen {v}" for w, v in zip(words, reversed(words))] + [" ".join(words)]:
        p, q = cpp.predict(text), ref.predict(text)
        assert (p.intent, p.slots) == (q.intent, q.slots)
        assert p.confidence == pytest.approx(q.confidence, abs=1e-5)


def test_c_export_reads_new_words_like_the_reference(models, tmp_path):
    from test_export_c import compare_with_reference, require

    from safu.export import c_build
    from safu.export.c_export import export_c

    require("host")
    path = models["root"] / "ext.safu"
    words = [_new_word(models["ext"], k) for k in (0, 3, EXTRA - 1)]
    lines = [f"turn off the {w} fan" for w in words] + [" ".join(words)]
    export_c(path, tmp_path / "c")
    build = c_build.build(tmp_path / "c", tmp_path / "build", "host")
    out = c_build.run_program(build, "host", stdin="\n".join(lines) + "\n", args=["-"])
    results = [json.loads(x) for x in out.splitlines()]
    assert len(results) == len(lines)
    compare_with_reference(path, results)
    numpy_model = load(path, backend="numpy")
    for text, r in zip(lines, results):
        p = numpy_model.predict(text)
        assert (r["intent"], r["slots"]) == (p.intent, p.slots), text


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ValueError, match="general_extra_words must be >= 0"):
        IntentConfig(general_extra_words=-1).validate()
    with pytest.raises(ValueError, match="general_extra_words needs general_dims > 0"):
        IntentConfig(general_extra_words=10, general_dims=0).validate()
    tensors = {"token_table": np.zeros((len(SPECIALS) + 1, 8)), "intent_U": np.zeros((len(SPECIALS) + 1 + 16, 2)),
               "slot_U": np.zeros((5 * 8 + len(SPECIALS) + 1, 3))}
    tokens = SPECIALS + ["lamp"]
    with pytest.raises(ValueError, match="already a token"):
        extend_model(tokens, tensors, ["lamp"], 4, 0.25, 2)
    with pytest.raises(ValueError, match="no general-English columns"):
        extend_model(tokens, tensors, ["sofa"], 0, 0.25, 2)
    with pytest.raises(ValueError, match="slot_U has"):
        extend_model(tokens, tensors, ["sofa"], 4, 0.25, 1)
