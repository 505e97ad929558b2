"""Home Assistant templates and inventories on the small committed fixtures."""
import pytest

from safu.runtime.datasets import SAMPLE_INVENTORY, DataError, SlotSpan, load_examples, load_inventory
from safu.runtime.datasets.expand import _add_skip_word


@pytest.fixture(scope="module")
def ha(fixtures):
    return fixtures / "data" / "ha"


@pytest.fixture(scope="module")
def ds(ha):
    return load_examples([ha])       # inventory.yaml in the folder is picked up


def by_intent(ds, intent):
    return [e for e in ds.examples if e.intent == intent]


def slot(example, name):
    found = [s for s in example.slots if s.name == name]
    return found[0] if found else None


def test_intents_and_folder_layout(ds):
    assert ds.intents == ["HassBroadcast", "HassClimateSetTemperature", "HassGetCurrentTime",
                          "HassNevermind", "HassTurnOff", "HassTurnOn"]
    assert sorted(e.text for e in by_intent(ds, "HassNevermind")) == ["never mind", "nevermind"]


def test_small_templates_are_enumerated_completely(ds):
    assert sorted(e.text for e in by_intent(ds, "HassGetCurrentTime")) == [
        "what time is it", "what time is it now", "what time is it right now"]


def test_inventory_from_folder_fills_lists(ds, ha):
    assert any(line.startswith(f"inventory: {ha / 'inventory.yaml'}") for line in ds.report)
    areas = {slot(e, "area").value for e in ds.examples if slot(e, "area")}
    assert areas == {"Kitchen", "Living Room"}
    lounge = [e for e in ds.examples if "lounge" in e.text and slot(e, "area")]
    assert lounge and all(slot(e, "area").value == "Living Room" for e in lounge)


def test_requires_and_excludes_context_filter_names(ds):
    on_names = {slot(e, "name").value for e in by_intent(ds, "HassTurnOn") if slot(e, "name")}
    off_names = {slot(e, "name").value for e in by_intent(ds, "HassTurnOff") if slot(e, "name")}
    climate = {slot(e, "name").value for e in by_intent(ds, "HassClimateSetTemperature") if slot(e, "name")}
    assert on_names == {"Ceiling Light"}                 # requires_context domain: light
    assert off_names == {"Desk Fan", "Thermostat"}       # excludes_context domain: [light]
    assert climate == {"Thermostat"}


def test_permutation_both_orders(ds):
    texts = {e.text for e in by_intent(ds, "HassTurnOn")}
    assert "turn on the ceiling light" in texts and "the ceiling light turn on" in texts


def test_fixed_and_in_out_slots(ds):
    e = next(e for e in ds.examples if e.text == "turn on kitchen lights")
    assert e.intent == "HassTurnOn"
    assert slot(e, "domain") == SlotSpan("domain", -1, -1, "light") and slot(e, "domain").fixed
    assert slot(e, "area") == SlotSpan("area", 8, 15, "Kitchen")
    e = next(e for e in ds.examples if e.text == "switch on all fans")
    assert slot(e, "domain") == SlotSpan("domain", 14, 18, "fan")     # in "fan[s]", out "fan"


def test_ranges_digits_words_and_halves(ds):
    temps = [slot(e, "temperature") for e in by_intent(ds, "HassClimateSetTemperature")]
    values = {float(s.value) for s in temps}
    assert values <= {15 + k / 2 for k in range(21)}
    assert any(v % 1 == 0.5 for v in values)
    surfaces = {e.text[s.start:s.end] for e, s in zip(by_intent(ds, "HassClimateSetTemperature"), temps)}
    assert any(s.isdigit() for s in surfaces) and any(s.startswith(("fifteen", "sixteen", "seventeen",
               "eighteen", "nineteen", "twenty")) for s in surfaces)


def test_wildcard_samples(ds):
    for e in by_intent(ds, "HassBroadcast"):
        s = slot(e, "message")
        assert e.text.startswith("broadcast ") and s.value == e.text[s.start:s.end] == e.text[10:]


def test_wildcards_are_filled_with_words_no_template_says(ha):
    """Beyond the few plausible samples, random general-English fillers teach the wildcard's
    position; none of their words is in the files (so none is a template word), and the same
    files give the same fillers."""
    import re

    from safu.runtime.datasets.home_assistant import WILDCARD_FILLERS, WILDCARD_SAMPLES

    ds = load_examples([ha], max_sentences_per_intent=400)
    messages = {slot(e, "message").value for e in by_intent(ds, "HassBroadcast")}
    fillers = messages - set(WILDCARD_SAMPLES["message"])
    assert len(fillers) >= WILDCARD_FILLERS // 2, sorted(messages)
    said = {w for f in ha.glob("*.yaml") for w in re.findall(r"[a-z']+", f.read_text().lower())}
    assert not {w for m in fillers for w in m.split() if w != "the"} & said
    again = load_examples([ha], max_sentences_per_intent=400)
    assert messages == {slot(e, "message").value for e in by_intent(again, "HassBroadcast")}


def test_fillers_hold_no_blocklisted_word(monkeypatch):
    """Random fillers skip the shipped blocklist (profanity; religion and ethnicity words), and
    dropping a blocked draw leaves every other filler as the unfiltered draw gives it."""
    from safu.runtime.datasets import home_assistant as module

    blocked = module._blocklist()
    assert {"fuck", "murder", "jewish"} <= blocked and "kitchen" not in blocked
    fillers = module._fillers([])
    assert len(fillers) == 4 * module.WILDCARD_FILLERS
    assert not {w for f in fillers for w in f.split()} & blocked
    monkeypatch.setattr(module, "_blocklist", lambda: frozenset())
    unfiltered = module._fillers([])
    dropped = [f for f in unfiltered if set(f.split()) & blocked]
    assert dropped, "the unfiltered draw holds blocked words (the test would prove nothing otherwise)"
    assert set(unfiltered) - set(dropped) <= set(fillers)


def test_missing_blocklist_is_a_clear_error(monkeypatch, tmp_path):
    from safu.runtime.datasets import home_assistant as module

    monkeypatch.setattr(module, "FILLER_BLOCKLIST", tmp_path / "filler_blocklist.txt")
    with pytest.raises(DataError, match="filler_blocklist.txt: cannot read the filler blocklist"):
        module._fillers([])


def test_every_span_matches_its_text(ds):
    for e in ds.examples:
        for s in e.spanned_slots:
            surface = e.text[s.start:s.end]
            assert 0 <= s.start < s.end <= len(e.text) and surface == surface.strip(), e


def test_cap_and_seed(ha):
    a = load_examples([ha], max_sentences_per_intent=5, seed=1)
    b = load_examples([ha], max_sentences_per_intent=5, seed=1)
    c = load_examples([ha], max_sentences_per_intent=5, seed=2)
    counts = {i: len(by_intent(a, i)) for i in a.intents}
    assert max(counts.values()) == 5 and counts["HassGetCurrentTime"] == 3
    assert [(e.text, e.slots) for e in a.examples] == [(e.text, e.slots) for e in b.examples]
    assert [e.text for e in a.examples] != [e.text for e in c.examples]
    assert any("at most 5 per intent" in line for line in a.report)


def test_sample_inventory_is_the_default(ha):
    ds = load_examples([ha / "light_HassTurnOn.yaml", ha / "_common.yaml"])
    assert any(str(SAMPLE_INVENTORY) in line for line in ds.report)
    inv = load_inventory()
    on = {slot(e, "name").value for e in by_intent(ds, "HassTurnOn") if slot(e, "name")}
    off = {slot(e, "name").value for e in by_intent(ds, "HassTurnOff") if slot(e, "name")}
    assert len(on) >= 5 and {inv.entity_by_name(n).domain for n in on} == {"light"}
    assert off and "light" not in {inv.entity_by_name(n).domain for n in off}


def test_explicit_inventory_wins(ha, tmp_path):
    inv = tmp_path / "home.yaml"
    inv.write_text("areas:\n  - {name: Attic, id: attic}\nentities: []\n", encoding="utf-8")
    ds = load_examples([ha], inventory=inv)
    assert {slot(e, "area").value for e in ds.examples if slot(e, "area")} == {"Attic"}


def test_sample_inventory_is_sane():
    inv = load_inventory()
    domains = {e.domain for e in inv.entities}
    assert {"light", "fan", "switch", "cover", "lock", "climate", "media_player"} <= domains
    assert {"Kitchen", "Living Room", "Bedroom", "Office", "Garage"} <= {a.name for a in inv.areas}
    assert inv.entity_by_name("Pendant Lamp").id == "light.kitchen_pendant"
    # one surface, one value: no name or alias is shared by two entities or two places
    for values in inv.slot_lists().values():
        surfaces = [v.surface.text for v in values.values]
        assert len(surfaces) == len(set(surfaces))
    assert inv.entity_by_name("lounge") is None and inv.entity_by_name("television").id.startswith("media_player.")


def test_skip_word_shifts_spans():
    import random
    spans = [SlotSpan("area", 8, 15, "Kitchen"), SlotSpan("domain", -1, -1, "light")]
    text, moved = _add_skip_word("turn on kitchen lights", spans, "can you", random.Random(0))
    assert text == "can you turn on kitchen lights"
    assert text[moved[0].start:moved[0].end] == "kitchen" and moved[1] == spans[1]


def test_inventory_errors(tmp_path):
    bad = tmp_path / "inv.yaml"
    bad.write_text("areas:\n  - {name: Kitchen, id: kitchen}\nentities:\n"
                   "  - {name: Lamp, id: light.lamp, area: attic}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"inv\.yaml:4: field 'area': unknown area id 'attic'"):
        load_inventory(bad)
    bad.write_text("entities:\n  - {name: Lamp, id: lamp}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"inv\.yaml:2: field 'id': entity id 'lamp' is not of the form"):
        load_inventory(bad)
    bad.write_text("entities:\n  - {id: light.lamp}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"inv\.yaml:2: field 'name': missing"):
        load_inventory(bad)
