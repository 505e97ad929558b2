"""Seeded mutations of the committed fixtures: any wrong type anywhere must give a DataError
(file/line/field), never another exception from deep inside."""
import json
import random

import pytest
import yaml

from safu.runtime.datasets import DataError, load_examples

ODD_VALUES = [1, -3, 2.5, "x", "(", "{nope}", "<nope>", [], {}, None, [1, 2], {"a": 1}, True, "light.", ""]
FILES = ["ha/light_HassTurnOn.yaml", "ha/_common.yaml", "ha/climate_HassClimateSetTemperature.yaml",
         "rhino/coffee.yaml", "ha/inventory.yaml"]


def _paths(doc, prefix=()):
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


@pytest.mark.parametrize("name", FILES)
def test_yaml_mutations_give_data_errors(fixtures, tmp_path, name):
    rng = random.Random(name)
    original = yaml.safe_load((fixtures / "data" / name).read_text(encoding="utf-8"))
    common = fixtures / "data" / "ha" / "_common.yaml"
    turn_on = fixtures / "data" / "ha" / "light_HassTurnOn.yaml"
    for k in range(40):
        doc = json.loads(json.dumps(original))
        for _ in range(rng.randint(1, 2)):
            _set(doc, rng.choice(list(_paths(doc))), rng.choice(ODD_VALUES))
        f = tmp_path / f"{k}_{name.replace('/', '_')}"
        f.write_text(yaml.safe_dump(doc), encoding="utf-8")
        is_inventory = name.endswith("inventory.yaml")
        try:
            load_examples([turn_on, common] if is_inventory else [f],
                          inventory=f if is_inventory else None, max_sentences_per_intent=20)
        except DataError:
            pass


def test_jsonl_and_snips_mutations_give_data_errors(tmp_path):
    rng = random.Random(0)
    for k in range(100):
        rec = {"text": "turn on the lamp", "intent": "A", "slots": {"x": "lamp"}}
        key, value = rng.choice(["text", "intent", "slots", "extra"]), rng.choice(ODD_VALUES)
        rec[key] = value
        snips = {"A": [{"data": [{"text": "hi "}, {"text": "lamp", "entity": "x"}]}]}
        path = rng.choice([("A",), ("A", 0), ("A", 0, "data"), ("A", 0, "data", 1),
                           ("A", 0, "data", 1, "entity"), ("A", 0, "data", 0, "text")])
        _set(snips, path, value)
        for suffix, doc in ((".jsonl", rec), (".json", snips)):
            f = tmp_path / f"{k}{suffix}"
            f.write_text(json.dumps(doc) + "\n", encoding="utf-8")
            try:
                load_examples([f])
            except DataError:
                pass
