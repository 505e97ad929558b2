"""Rhino, JSONL, CSV and SNIPS readers on committed fixtures, and SNIPS in full from shared/data."""
import pytest

from safu.runtime.datasets import SlotSpan, check_trainable, load_examples, load_snips


@pytest.fixture(scope="module")
def data(fixtures):
    return fixtures / "data"


def spans_ok(ds):
    for e in ds.examples:
        for s in e.spanned_slots:
            assert 0 <= s.start < s.end <= len(e.text), e
            assert e.text[s.start:s.end].strip() == e.text[s.start:s.end], e


def test_rhino(data):
    ds = load_examples([data / "rhino" / "coffee.yaml"])
    spans_ok(ds)
    assert ds.intents == ["cancelOrder", "orderDrink"]
    texts = {e.text: e for e in ds.examples}
    assert {"cancel the order", "cancel my order", "never mind"} == {
        e.text for e in ds.examples if e.intent == "cancelOrder"}
    e = texts["give me a large latte please"]
    assert [(s.name, s.value) for s in e.slots] == [("size", "large"), ("drink", "latte")]
    assert texts["I want medium espresso"].intent == "orderDrink"       # (a, an) is optional
    counts = [e for e in ds.examples if any(s.name == "count" for s in e.slots)]
    assert {e.text.split()[0] for e in counts} >= {"3", "three"}
    # [I want, give me] x (a, an, -) x 3 sizes x 4 drinks x (please, thanks, -) + 10 x 2 x 4
    assert len([e for e in ds.examples if e.intent == "orderDrink"]) == 2 * 3 * 3 * 4 * 3 + 10 * 2 * 4


def test_jsonl(data):
    ds = load_examples([data / "jsonl" / "train.jsonl"])
    spans_ok(ds)
    assert [e.intent for e in ds.examples] == ["HassTurnOn", "HassTurnOff", "HassClimateSetTemperature", None]
    assert ds.examples[0].slots == [SlotSpan("name", 12, 25, "Kitchen Light")]    # case-insensitive find
    assert ds.examples[1].slots == [SlotSpan("area", 27, 33, "Living Room")]
    assert ds.examples[2].slots == [SlotSpan("area", 8, 15, "bedroom"), SlotSpan("temperature", 19, 21, "21")]


def test_csv_with_and_without_header(data):
    ds = load_examples([data / "csv" / "with_header.csv"])
    assert [(e.text, e.intent) for e in ds.examples] == [
        ("turn on the kitchen light", "HassTurnOn"), ("set the lights to 50%, please", "HassLightSet"),
        ("what time is it", "HassGetCurrentTime")]
    ds = load_examples([data / "csv" / "no_header.csv"])
    assert [e.intent for e in ds.examples] == ["HassTurnOn", "HassTurnOff"]


def test_mixed_folder_walk(data):
    ds = load_examples([data / "jsonl", data / "csv"], max_sentences_per_intent=1, seed=0)
    check_trainable(ds)
    assert sum(e.intent == "HassTurnOn" for e in ds.examples) == 1
    assert any("kept" in line for line in ds.report)


def test_snips_fixture_splits_and_encoding(data):
    ds = load_examples([data / "snips"])
    assert ds.intents == ["GetWeather", "PlayMusic"] and len(ds.examples) == 4   # validate_* left out
    assert any("validate_" in line for line in ds.report)
    assert any("CESU-8" in line and "train_PlayMusic_full.json" in line for line in ds.report)
    spans_ok(ds)
    weather = ds.examples[0]
    assert weather.text == "what is the weather in Paris tomorrow"
    assert weather.slots == [SlotSpan("city", 23, 28, "Paris"), SlotSpan("timeRange", 29, 37, "tomorrow")]
    assert ds.examples[1].slots == [SlotSpan("timeRange", 13, 20, "tonight")]       # trailing space trimmed
    music = [e for e in ds.examples if e.intent == "PlayMusic"]
    assert music[0].text == "play Noctámbulo by Alex Otaola"
    assert music[1].text.endswith("Pop Punk Perfection \U0001F355")
    test = load_snips(data / "snips", split="validate")
    assert [e.text for e in test.examples] == ["forecast for Oslo", "play jazz"]


def test_full_snips(shared_data):
    folder = shared_data / "snips"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    train = load_snips(folder, "train")
    test = load_snips(folder, "validate")
    assert len(train.intents) == 7 and len(test.examples) == 700
    assert 13_000 <= len(train.examples) <= 14_500
    assert any("CESU-8" in line for line in train.report)
    assert any("Noctámbulo" in e.text for e in train.examples)
    spans_ok(train)
    spans_ok(test)
    with pytest.raises(ValueError, match="split must be one of"):
        load_snips(folder, "test")
