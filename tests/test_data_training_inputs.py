"""Training inputs a user expects: one-intent contexts, sampling large grammars (--max-sentences,
--seed, covering samples), training options from the command line, intent-null rows,
--skip-invalid, an output path that is an input, YAML 1.1 booleans."""
import json
import random

import pytest

from safu.runtime.api import load, out_of_scope_sentences, train
from safu.runtime.cli import main
from safu.runtime.datasets import load_examples
from safu.runtime.datasets.template import Coverage, Grammar, ListRef, ListValue, SlotList, Text, parse_template
from safu.runtime.datasets.template import Alt, Seq, render, walk

VERBS = ["brew", "can I get", "can I have", "I want", "get me", "give me", "I'd like", "make me", "may I have"]
SIZES = ["small", "medium", "large", "eight ounce", "twelve ounce", "sixteen ounce", "twenty ounce"]
DRINKS = ["americano", "cappuccino", "espresso", "iced mocha", "latte", "mocha", "drip coffee", "house coffee"]
MILK = [f"{amount}{kind}" for amount in ("", "a little bit of ", "a bit of ", "some ", "a lot of ", "lots of ")
        for kind in ("milk", "skim milk", "whole milk", "soy milk", "almond milk", "cream")]
SUGAR = [f"{amount}{kind}" for amount in ("", "a bit of ", "some ", "lots of ")
         for kind in ("sugar", "brown sugar", "sweetener")]


def one_intent_context(path):
    """A Rhino context like Picovoice's coffee maker: one intent, many expressions, ~10^6 sentences."""
    verbs = ", ".join(VERBS)
    lines = ["context:", "  expressions:", "    orderDrink:"]
    for tail in ("", " with $milkAmount:milkAmount", " with $sugarAmount:sugarAmount",
                 " with $milkAmount:milkAmount and $sugarAmount:sugarAmount",
                 " with $sugarAmount:sugarAmount and $milkAmount:milkAmount"):
        lines.append(f'      - "[{verbs}] [a, an] (@adj) $size:size $coffeeDrink:coffeeDrink{tail}"')
    lines += ["  slots:"]
    for name, values in (("size", SIZES), ("coffeeDrink", DRINKS), ("milkAmount", MILK), ("sugarAmount", SUGAR)):
        lines.append(f"    {name}:")
        lines += [f'      - "{v}"' for v in values]
    lines += ["  macros:", "    adj: [hot, nice, fresh]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_intent_context_trains_with_the_none_class(tmp_path, capsys):
    data = one_intent_context(tmp_path / "coffee.yaml")
    out = tmp_path / "c.safu"
    assert main(["train", str(data), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one intent ('orderDrink'): none class turned on" in printed, printed
    assert "2 intents" in printed
    model = load(out, backend="numpy")
    assert sorted(model.intents) == ["<none>", "orderDrink"]
    p = model.predict("can I get a large latte with some soy milk")
    assert p.intent == "orderDrink"
    assert p.slots == {"size": "large", "coffeeDrink": "latte", "milkAmount": "some soy milk"}
    rejected = [model.predict(s).intent for s in ("tell me a joke", "what is the capital of france",
                                                  "turn on the kitchen lights", "how are you doing today")]
    assert rejected == [None] * 4


def test_the_shipped_coffee_maker_context_trains(shared_data, tmp_path, capsys):
    path = shared_data / "picovoice-coffee" / "coffee_maker.yaml"
    if not path.exists():
        pytest.skip("picovoice-coffee/coffee_maker.yaml not in the shared data")
    out = tmp_path / "c.safu"
    assert main(["train", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "possible sentences, sampled 2,000" in printed, printed
    assert "every alternative and slot value covered" in printed
    assert load(out, backend="numpy").predict("make me a small espresso").intent == "orderDrink"


# -- sampling ----------------------------------------------------------------------------------------


def test_default_sample_covers_every_alternative_and_slot_value(tmp_path):
    data = one_intent_context(tmp_path / "coffee.yaml")
    for seed in (0, 1):
        ds = load_examples([data], seed=seed)
        texts = [e.text for e in ds.examples]
        values = {(s.name, s.value) for e in ds.examples for s in e.slots}
        for name, options in (("size", SIZES), ("coffeeDrink", DRINKS), ("milkAmount", MILK),
                              ("sugarAmount", SUGAR)):
            assert {(name, v) for v in options} <= values, name
        for verb in VERBS:
            assert any(t.startswith(verb + " a") for t in texts), verb
        for article in (" a ", " an "):
            assert any(article in t for t in texts)
        for adj in ("hot", "nice", "fresh"):
            assert any(f" {adj} " in t for t in texts)
        assert any(not any(f" {adj} " in t for adj in ("hot", "nice", "fresh")) for t in texts)  # (@adj) absent
        assert len(ds.examples) == 2000
        assert "every alternative and slot value covered" in ds.report[0]


def test_coverage_chooses_every_option_including_an_absent_optional():
    grammar = Grammar({"polite": parse_template("(please|kindly)")},
                      {"colour": SlotList([ListValue(Text(c), c) for c in ("red", "green", "blue", "white")])})
    node = parse_template("(turn|make|set) the [big (lamp|light)] {colour} [<polite>]")
    cov = Coverage()
    texts = []
    rng = random.Random(0)
    while cov.pending(grammar, node):
        texts.append(render(cov.sample(grammar, node, rng))[0])
    assert len(texts) <= 12
    alts = [n for n in walk(node) if isinstance(n, Alt)]
    assert all((id(a), id(o)) in cov.covered for a in alts for o in a.options)
    joined = " | ".join(texts)
    for word in ("turn", "make", "set", "big lamp", "big light", "red", "green", "blue", "white", "please",
                 "kindly"):
        assert word in joined, word
    assert any("big" not in t for t in texts) and any(not t.endswith(("please", "kindly")) for t in texts)
    assert isinstance(node, Seq) and any(isinstance(n, ListRef) for n in walk(node))


def test_max_sentences_and_seed(tmp_path, capsys):
    data = one_intent_context(tmp_path / "coffee.yaml")
    a = load_examples([data], max_sentences_per_intent=300, seed=1)
    b = load_examples([data], max_sentences_per_intent=300, seed=1)
    c = load_examples([data], max_sentences_per_intent=300, seed=2)
    assert len(a.examples) == 300 and [e.text for e in a.examples] == [e.text for e in b.examples]
    assert {e.text for e in a.examples} != {e.text for e in c.examples}
    assert "sampled 300 (at most 300 per intent; every alternative and slot value covered by " in a.report[0]
    assert a.report[0].endswith("of them; seed 1)")
    small = load_examples([data], max_sentences_per_intent=10)
    assert len(small.examples) == 10 and "partly covered" in small.report[0]
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out), "--max-sentences", "300", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "sampled 300" in printed and "seed 1" in printed
    assert f"{300 + len(out_of_scope_sentences())} examples" in printed   # + the shipped sentences of <none>
    assert main(["train", str(data), "-o", str(out), "--max-sentences", "0"]) == 2
    assert "--max-sentences 0" in capsys.readouterr().err


# -- options ------------------------------------------------------------------------------------------


def two_intents(path, extra=""):
    rooms = ("kitchen", "hall", "attic")
    rows = [{"text": f"turn on the {r} light", "intent": "On", "slots": {"room": r}} for r in rooms]
    rows += [{"text": f"turn off the {r} light", "intent": "Off", "slots": {"room": r}} for r in rooms]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra, encoding="utf-8")
    return path


def test_training_options_from_the_command_line(tmp_path, capsys):
    data = two_intents(tmp_path / "d.jsonl")
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out), "--set", "slot_radius=3", "--set", "bigram_buckets=64",
                 "--set", "none_class=true", "--set", "smoothing=0.1", "--bits", "16"]) == 0
    meta = load(out, backend="numpy").metadata
    assert meta["slot.radius"] == 3 and meta["intent.bigram_buckets"] == 64 and meta["cipher.bits"] == 16
    assert "'smoothing': 0.1" in meta["train.config"] and "'none_class': True" in meta["train.config"]
    assert "<none>" in meta["intent.labels"]
    assert main(["train", str(data), "-o", str(out), "--slot-radius", "1", "--set", "slot_radius=4"]) == 0
    assert load(out, backend="numpy").metadata["slot.radius"] == 1   # the named flag wins
    capsys.readouterr()


@pytest.mark.parametrize("setting,expected", [
    ("slot_window=3", "--set slot_window: unknown training option; expected one of cipher_bits, "),
    ("slot_radius=three", "--set slot_radius=three: expected an integer (default 2)"),
    ("none_class=maybe", "--set none_class=maybe: expected true or false (default false)"),
    ("holdout=0.7", "holdout must be in [0, 0.5)"),
    ("slot_radius", "expected KEY=VALUE"),
])
def test_bad_training_options_name_the_key(tmp_path, capsys, setting, expected):
    data = two_intents(tmp_path / "d.jsonl")
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_help_lists_the_training_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for word in ("--max-sentences", "--seed", "--set KEY=VALUE", "--slot-radius", "--none-class",
                 "--bigram-buckets", "--polish", "--skip-invalid", "slot_radius=2", "bigram_buckets=4096",
                 "none_class=false", "polish_epochs=0", "min_inscope_recall=0.97"):
        assert word in text, word


# -- rows ---------------------------------------------------------------------------------------------


def test_intent_null_rows_are_out_of_scope_sentences(tmp_path, capsys):
    data = two_intents(tmp_path / "d.jsonl", '{"text": "sing the kitchen a song", "intent": null}\n'
                                            '{"text": "is the hall light a planet", "intent": null}\n')
    model = train([data], config=None, auto_none_class=False)
    assert "2 examples with intent null used as out-of-scope sentences" in " ".join(model.stats["report"])
    assert model.intents == ["Off", "On"]
    from safu.models.intent_model import IntentConfig
    with_none = train([data], config=IntentConfig(none_class=True))
    # the <none> class is fitted on the shipped sentences and on the two rows
    assert with_none.stats["examples"] == 6 + len(out_of_scope_sentences()) + 2
    assert main(["train", str(data), "-o", str(tmp_path / "m.safu")]) == 0
    assert "2 examples with intent null used as out-of-scope sentences" in capsys.readouterr().out


def test_skip_invalid_reports_rows_left_out(tmp_path, capsys):
    bad = ['{"text": "turn on the moon", "intent": "On", "slots": {"room": "garage"}}',
           '{"text": "oops", "intent": "On"',
           '{"text": "", "intent": "Off"}',
           '{"text": "turn off the porch light", "intent": "Off", "slots": {"room": "cellar"}}']
    data = two_intents(tmp_path / "d.jsonl", "\n".join(bad) + "\n")
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{data}:7: field 'slots.room': value 'garage' not found" in err
    assert main(["train", str(data), "-o", str(out), "--skip-invalid"]) == 0
    printed = capsys.readouterr().out
    assert "jsonl " + str(data) + ": 6 examples, 4 invalid lines skipped" in printed
    line = next(x for x in printed.splitlines() if x.startswith("skipped 4 invalid rows"))
    assert f"{data}:7: field 'slots.room'" in line and f"{data}:8: invalid JSON" in line
    assert f"{data}:9: field 'text'" in line and ":10:" not in line and line.endswith("...")
    csv = tmp_path / "d.csv"
    csv.write_text("turn on the light,On\nturn off the light,Off\nno intent here,\na,b,c\n", encoding="utf-8")
    ds = load_examples([csv], skip_invalid=True)
    assert len(ds.examples) == 2 and len(ds.skipped) == 2 and ":3: field 'intent'" in ds.skipped[0]


# -- data never lost ----------------------------------------------------------------------------------


def test_output_that_is_an_input_is_refused(tmp_path, capsys):
    data = two_intents(tmp_path / "d.jsonl")
    before = data.read_bytes()
    assert main(["train", str(data), "-o", str(data)]) == 2
    err = capsys.readouterr().err
    assert "the output file is one of the training inputs" in err and len(err.strip().splitlines()) == 1
    assert data.read_bytes() == before
    assert main(["train", str(tmp_path), "-o", str(data)]) == 2     # found in a named folder
    assert "one of the training inputs" in capsys.readouterr().err
    assert data.read_bytes() == before
    model = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(model)]) == 0
    assert main(["eval", str(model), str(data), "--errors", str(data)]) == 2
    assert data.read_bytes() == before


# -- YAML 1.1 booleans --------------------------------------------------------------------------------


def test_yaml_on_off_yes_no_are_strings(tmp_path):
    rhino = tmp_path / "switch.yaml"
    rhino.write_text("context:\n  expressions:\n    On:\n      - \"switch $state:state the light\"\n"
                     "    Yes:\n      - \"yes please\"\n    No:\n      - \"no thanks\"\n"
                     "  slots:\n    state: [on, off, Yes, NO]\n", encoding="utf-8")
    ds = load_examples([rhino])
    assert ds.intents == ["No", "On", "Yes"]
    assert {s.value for e in ds.examples for s in e.slots} == {"on", "off", "Yes", "NO"}
    ha = tmp_path / "ha.yaml"
    ha.write_text("language: en\nintents:\n  On:\n    data:\n      - sentences: [\"{state} now\"]\n"
                  "  Yes:\n    data:\n      - sentences: [\"yes do it\"]\n"
                  "lists:\n  state:\n    values: [on, off]\n  item:\n    wildcard: true\n", encoding="utf-8")
    ds = load_examples([ha])
    assert ds.intents == ["On", "Yes"]
    assert sorted(e.text for e in ds.examples) == ["off now", "on now", "yes do it"]
    from safu.runtime.datasets.common import load_yaml
    assert load_yaml(ha)["lists"]["item"]["wildcard"] is True     # true/false stay booleans
