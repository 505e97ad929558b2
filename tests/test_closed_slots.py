"""Closed-list slots: which slots the readers close (Rhino context slots, Home Assistant `values:`
lists), the model file's `slot.closed`, its checks in both backends, and IntentModel.off_list."""
from __future__ import annotations

from pathlib import Path

import pytest

from safu.export.model_file import read_model_file, write_model_file
from safu.models.slot_values import ClosedSlots, closed_key
from safu.runtime.api import IntentModel, Prediction, load, train
from safu.runtime.datasets import load_examples

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "data"

try:
    from safu import _core
except ImportError:
    _core = None

BACKENDS = ["numpy"] + (["core"] if _core is not None else [])


@pytest.fixture(scope="module")
def coffee_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("closed") / "coffee.safu"
    train(str(FIXTURES / "rhino" / "coffee.yaml"), output=str(path))
    return path


def test_every_rhino_context_slot_is_closed_and_a_built_in_number_slot_is_not():
    ds = load_examples(FIXTURES / "rhino" / "coffee.yaml")
    assert ds.closed_slots == {"drink": ["americano", "cappuccino", "espresso", "latte"],
                               "size": ["large", "medium", "small"]}
    assert "count" in {s.name for e in ds.examples for s in e.slots}   # $pv.SingleDigitInteger: open
    assert any(line.startswith("closed-list slots: 2 (drink 4, size 3 values)") for line in ds.report)


def test_a_phrase_with_number_words_is_closed_as_the_context_spells_it(tmp_path):
    """"twenty ounce" is also trained as "20 ounce"; the list holds the phrase, which is also what
    the model reports for "20 ounce" (its synonym), so neither spelling is off the list."""
    (tmp_path / "c.yaml").write_text(
        "context:\n  expressions:\n    order:\n      - \"give me a $size:size $drink:drink\"\n"
        "    stop:\n      - \"cancel [the, my] order\"\n"
        "  slots:\n    size: [small, twenty ounce]\n    drink: [latte, iced mocha]\n")
    ds = load_examples(tmp_path / "c.yaml")
    assert ds.closed_slots == {"drink": ["iced mocha", "latte"], "size": ["small", "twenty ounce"]}
    model = train(str(tmp_path / "c.yaml"), output=str(tmp_path / "c.safu"))
    assert "size\ttwenty ounce" in model.metadata()["slot.closed"]
    loaded = load(str(tmp_path / "c.safu"))
    for text in ("give me a twenty ounce latte", "give me a 20 ounce latte", "give me a small iced mocha"):
        p = loaded.predict(text)
        assert p.intent == "order" and len(p.slots) == 2 and loaded.off_list(p) == [], text


HA_COMMON = """\
language: "en"
lists:
  color:
    values: [red, green, "sky blue"]
  on_off_states:
    values:
      - in: "(on|active)"
        out: "on"
      - "off"
  zone:
    wildcard: true
  brightness:
    range: {from: 0, to: 100}
  brightness_level:
    values:
      - in: "(max|maximum)"
        out: 100
  on_off_domains:
    values:
      - in: "light[s]"
        out: light
      - in: "fan[s]"
"""
HA_INTENTS = """\
language: "en"
intents:
  HassLightSet:
    data:
      - sentences:
          - "set <area> [light] to {color}"
          - "set <area> [light] to {brightness} percent"
          - "set <area> [light] to {brightness_level:brightness}"
        slots:
          domain: "light"
  HassTurnOn:
    data:
      - sentences:
          - "turn on all {on_off_domains:domain}"
          - "is {name} {on_off_states:state}"
          - "is {name} in {zone:state}"
expansion_rules:
  area: "[the] {area}"
"""


def test_home_assistant_values_lists_are_closed_and_wildcards_ranges_and_names_are_not(tmp_path):
    (tmp_path / "_common.yaml").write_text(HA_COMMON)
    (tmp_path / "intents.yaml").write_text(HA_INTENTS)
    ds = load_examples(tmp_path, inventory=FIXTURES / "ha" / "inventory.yaml")
    # color: a values list; domain: on_off_domains ("fan[s]" without `out`: each rendering) and the
    # fixed domain of a block; state: a values list and a wildcard, open; brightness: a range and a
    # values list, open; name and area: the inventory's, open.
    assert ds.closed_slots == {"color": ["green", "red", "sky blue"], "domain": ["fan", "fans", "light"]}
    spanned = {s.name for e in ds.examples for s in e.spanned_slots}
    assert {"state", "brightness", "name", "area"} <= spanned


def test_a_listed_example_with_the_slot_opens_it(tmp_path):
    """JSONL annotations are free text: a slot they have is open, whatever a grammar says of it."""
    (tmp_path / "more.jsonl").write_text('{"text": "a venti latte", "intent": "orderDrink", '
                                         '"slots": {"size": "venti", "drink": "latte"}}\n')
    ds = load_examples([FIXTURES / "rhino" / "coffee.yaml", tmp_path / "more.jsonl"])
    assert set(ds.closed_slots) == set()   # both named in the JSONL line
    (tmp_path / "more.jsonl").write_text('{"text": "a venti", "intent": "orderDrink", "slots": {"size": "venti"}}\n')
    ds = load_examples([FIXTURES / "rhino" / "coffee.yaml", tmp_path / "more.jsonl"])
    assert set(ds.closed_slots) == {"drink"}


def test_values_compare_as_their_tokens():
    closed = ClosedSlots(["drink\ticed mocha", "drink\tlatte", "size\tlarge"])
    assert closed_key("Iced  Mocha,") == "iced mocha"
    assert closed.off_list({"drink": "Iced Mocha", "size": "large", "count": "iced"}) == []
    assert closed.off_list({"drink": "a", "size": "big"}) == [("drink", "a"), ("size", "big")]
    with pytest.raises(ValueError, match="slot.closed entry 'drink' is not slot"):
        ClosedSlots(["drink"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_model_file_carries_the_lists_and_predict_reports_what_the_tagger_read(coffee_path, backend):
    """predict keeps an off-list value (the text API reports the tagger's reading); off_list flags it."""
    model = load(str(coffee_path), backend=backend)
    assert model.metadata["slot.closed"] == ["drink\tamericano", "drink\tcappuccino", "drink\tespresso",
                                             "drink\tlatte", "size\tlarge", "size\tmedium", "size\tsmall"]
    assert set(model.closed_slots.values) == {"drink", "size"}
    good = model.predict("give me a large latte please")
    assert good.slots == {"size": "large", "drink": "latte"} and model.off_list(good) == []
    split = model.predict("i want a large a latte")   # "a" read as the drink, as noise does to a value
    assert split.intent == "orderDrink" and split.slots["drink"] == "a"
    assert model.off_list(split) == [("drink", "a")]
    assert model.off_list(Prediction("x", "orderDrink", 1.0, {"size": "Large", "count": "7"})) == []
    # no training sentence the model reads right is flagged
    assert not [s for s in model.sentences if (p := model.predict(s)).intent and model.off_list(p)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_file_without_the_key_loads_as_before_with_no_slot_closed(coffee_path, tmp_path, backend):
    mf = read_model_file(str(coffee_path))
    old = tmp_path / "old.safu"
    write_model_file(old, {k: v for k, v in mf.metadata.items() if k != "slot.closed"},
                     {k: mf.tensor(k) for k in mf.tensors})
    before, now = load(str(coffee_path), backend=backend), load(str(old), backend=backend)
    assert now.closed_slots is None
    split = now.predict("i want a large a latte")
    assert now.off_list(split) == [] and split == before.predict("i want a large a latte")


def _bad_closed(tmp_path, name, value):
    from cpp_model_fixtures import random_intent_tensors

    meta, tensors = random_intent_tensors(0)   # slots area, name, temperature
    meta["slot.closed"] = value
    path = tmp_path / f"{name}.safu"
    write_model_file(path, meta, tensors)
    return str(path)


BAD = [
    ("unknown_slot", ["colour\tred"], "slot.closed entry 'colour\\tred' is not slot\\tvalue with a slot of slot.labels"),
    ("no_tab", ["area"], "slot.closed entry 'area' is not slot\\tvalue with a slot of slot.labels"),
    ("empty_value", ["area\t"], "slot.closed entry 'area\\t' is not slot\\tvalue with a slot of slot.labels"),
    ("two_tabs", ["area\tliving\troom"],
     "slot.closed entry 'area\\tliving\\troom' is not slot\\tvalue with a slot of slot.labels"),
    ("a_string", "area\tkitchen", "metadata 'slot.closed' is STR, expected STR_ARRAY"),
]


@pytest.mark.parametrize("name,value,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_slot_closed_is_refused_naming_the_key(tmp_path, name, value, message):
    from safu.runtime.cli import main

    path = _bad_closed(tmp_path, name, value)
    with pytest.raises(ValueError) as err:
        IntentModel(path, backend="numpy")
    assert str(err.value) == f"{path}: {message}"
    if _core is not None:
        with pytest.raises(_core.FormatError) as err:
            _core.IntentModel(path)
        assert str(err.value) == f"{path}: {message}"
        with pytest.raises(ValueError) as err:
            IntentModel(path, backend="core")
        assert str(err.value) == f"{path}: {message}"
    assert main(["inspect", path]) == 1


def test_a_good_slot_closed_loads_in_both_backends_with_the_same_answers(tmp_path):
    path = _bad_closed(tmp_path, "good", ["area\tkitchen", "area\tliving room"])
    a = IntentModel(path, backend="numpy")
    assert a.closed_slots.values == {"area": frozenset({"kitchen", "living room"})}
    if _core is not None:
        b = IntentModel(path, backend="core")
        for text in ("turn on the kitchen lights", "set the living room to 21 degrees", "play music"):
            pa, pb = a.predict(text), b.predict(text)
            assert (pa.intent, pa.slots) == (pb.intent, pb.slots)
            assert pa.confidence == pytest.approx(pb.confidence, abs=1e-5)
