"""The full English Home Assistant intent set (shared/data) with the sample inventory."""
import random
from pathlib import Path

import pytest

from safu.runtime.datasets import DEFAULT_MAX_SENTENCES_PER_INTENT, check_trainable, load_examples
from safu.runtime.datasets.common import load_yaml
from safu.runtime.datasets.home_assistant import read_home_assistant


@pytest.fixture(scope="module")
def ha_folder(shared_data) -> Path:
    folder = shared_data / "home-assistant-intents" / "sentences-en"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


@pytest.fixture(scope="module")
def full(ha_folder):
    return load_examples([ha_folder])


@pytest.fixture(scope="module")
def templates(ha_folder):
    files = [(f, load_yaml(f)) for f in sorted(ha_folder.rglob("*.yaml"))]
    return read_home_assistant(files)


def test_counts_are_sane(full):
    check_trainable(full)
    counts = {}
    for e in full.examples:
        counts[e.intent] = counts.get(e.intent, 0) + 1
    assert 30 <= len(counts) <= 60, counts
    assert max(counts.values()) == DEFAULT_MAX_SENTENCES_PER_INTENT
    assert counts["HassGetCurrentTime"] < 100        # small intents are enumerated, not padded
    assert 20_000 <= len(full.examples) <= DEFAULT_MAX_SENTENCES_PER_INTENT * len(counts)
    assert len({(e.intent, e.text) for e in full.examples}) == len(full.examples)
    assert any("possible sentences, sampled" in line for line in full.report)


def test_deterministic_with_a_seed(ha_folder):
    a = load_examples([ha_folder], max_sentences_per_intent=150, seed=7)
    b = load_examples([ha_folder], max_sentences_per_intent=150, seed=7)
    c = load_examples([ha_folder], max_sentences_per_intent=150, seed=8)
    assert [(e.text, e.intent, e.slots) for e in a.examples] == [(e.text, e.intent, e.slots) for e in b.examples]
    assert [e.text for e in a.examples] != [e.text for e in c.examples]


def test_every_slot_span_matches_its_text(full):
    for e in full.examples:
        for s in e.slots:
            if s.fixed:
                assert s.start == s.end == -1
                continue
            surface = e.text[s.start:s.end]
            assert 0 <= s.start < s.end <= len(e.text) and surface.strip() == surface and s.value, e


@pytest.mark.parametrize("sentence, intent, slots", [
    ("turn on the kitchen lights", "HassTurnOn", {"area": "Kitchen", "domain": "light"}),
    ("set the bedroom temperature to 21 degrees", "HassClimateSetTemperature",
     {"area": "Bedroom", "temperature": "21"}),
    ("what time is it", "HassGetCurrentTime", {}),
])
def test_target_sentences_are_generable(templates, sentence, intent, slots):
    matches = templates.match(sentence)
    assert (intent, slots) in matches, matches
    assert {i for i, _ in matches} == {intent}


def test_what_time_is_it_is_in_the_examples(full):
    assert any(e.text == "what time is it" and e.intent == "HassGetCurrentTime" for e in full.examples)


def test_sampled_examples_are_generated_by_their_templates(full, templates):
    """Each example (skip words removed) is matched back to its intent with the same slot values."""
    skip = sorted(templates.skip_words, key=len, reverse=True)
    for e in random.Random(0).sample(full.examples, 150):
        text = e.text
        for w in skip:
            if text.startswith(w + " "):
                text = text[len(w) + 1:]
            if text.endswith(" " + w):
                text = text[:-len(w) - 1]
        wanted = {s.name: s.value for s in e.slots}
        assert (e.intent, wanted) in templates.match(text), (e, templates.match(text)[:3])
