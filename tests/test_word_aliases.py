"""Word aliases (models/word_aliases.py): table words a model never saw read as a word it knows, the
same way by the Python tokenizer, the numpy backend and the C++ core."""
from __future__ import annotations

import pytest

from safu.models.intent_model import IntentConfig, fit_intent_model
from safu.models.tokenizer import SPECIALS, UNK, Vocabulary
from safu.models.word_aliases import word_aliases
from safu.runtime.api import load
from safu.runtime.datasets.common import Example

WORDS = ["turn", "on", "off", "the", "lamp", "light", "kitchen", "fan", "open", "door", "play", "music"]


def test_inflections_and_close_words_become_aliases():
    vocab = SPECIALS + WORDS
    aliases = word_aliases(vocab, 0.7)
    assert aliases["lamps"] == vocab.index("lamp")          # suffix rule
    assert aliases["kitchens"] == vocab.index("kitchen")
    assert all(w not in vocab for w in aliases)             # never a token
    assert all(len(SPECIALS) <= i < len(vocab) for i in aliases.values())
    assert "zebra" not in aliases                            # nothing near enough


def test_threshold_zero_means_none_and_min_count_limits_targets():
    vocab = SPECIALS + WORDS
    assert word_aliases(vocab, 0.0) == {}
    few = word_aliases(vocab, 0.7, counts={"lamp": 1, "kitchen": 5}, min_count=2)
    assert "lamps" not in few and few["kitchens"] == vocab.index("kitchen")


def test_vocabulary_looks_up_tokens_before_aliases():
    v = Vocabulary(SPECIALS + ["lamp", "lamps"], {"lamps": 6, "bulbs": 6})
    assert v.lookup("lamps") == 7 and v.lookup("bulbs") == 6 and v.lookup("zebra") == UNK


def _examples():
    out = []
    for device in ("lamp", "fan", "light"):
        for verb, intent in (("turn on", "TurnOn"), ("switch on", "TurnOn"), ("turn off", "TurnOff"),
                             ("switch off", "TurnOff")):
            for area in ("kitchen", "bedroom", "hall"):
                out.append(Example(text=f"{verb} the {area} {device}", intent=intent))
    return out


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("aliases") / "m.safu"
    fit_intent_model(_examples(), IntentConfig(seed=1)).save(path)
    return path


@pytest.mark.parametrize("backend", ["core", "numpy"])
def test_an_alias_predicts_like_the_word_it_stands_for(model_path, backend):
    model = load(model_path, backend=backend)
    assert model.vocab.lookup("lamps") == model.vocab.lookup("lamp") != UNK
    a, b = model.predict("turn off the kitchen lamps"), model.predict("turn off the kitchen lamp")
    assert a.intent == b.intent == "TurnOff"
    assert a.confidence == pytest.approx(b.confidence, abs=1e-6)


def test_backends_agree_on_alias_words(model_path):
    cpp, ref = load(model_path, backend="core"), load(model_path, backend="numpy")
    for text in ("switch on the kitchens lamps", "turn off the bedrooms fans", "turn lights off"):
        p, q = cpp.predict(text), ref.predict(text)
        assert (p.intent, p.slots) == (q.intent, q.slots)
        assert p.confidence == pytest.approx(q.confidence, abs=1e-5)


def test_no_aliases_when_turned_off(tmp_path):
    path = tmp_path / "m.safu"
    fit_intent_model(_examples(), IntentConfig(seed=1, alias_cosine=0.0)).save(path)
    model = load(path)
    assert "tokenizer.aliases" not in model.metadata
    assert model.vocab.lookup("lamps") == UNK
