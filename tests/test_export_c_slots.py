"""Slot decoding in the C export (export/c_runtime/safu_mcu.c): the generated project decodes the
same spans as the Python API on a trained model with a slot_transitions table (BIO Viterbi), and
on the same model without the table (legal-transition mask alone)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from safu.export import c_build
from safu.export.c_export import export_c
from safu.export.model_file import read_model_file, write_model_file

COFFEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "picovoice-coffee" / "coffee_maker.yaml"


@pytest.fixture(scope="module")
def coffee(tmp_path_factory):
    missing = c_build.missing_tools("host")
    if missing:
        pytest.skip(f"host: missing {', '.join(missing)}")
    if not COFFEE.exists():
        pytest.skip(f"the Rhino coffee context is not in {COFFEE.parent}")
    import safu
    from safu.runtime.datasets import load_examples
    root = tmp_path_factory.mktemp("c_slots")
    model = root / "coffee.safu"
    safu.train([COFFEE], output=model, max_sentences_per_intent=300)
    texts = [e.text for e in load_examples([COFFEE], max_sentences_per_intent=3000, seed=5).examples]
    random.Random(0).shuffle(texts)
    return root, model, texts[:150] + ["with a lot of sugar", "a bit of a lot of", "coffee coffee coffee"]


def _c_predictions(model, root, name, texts):
    export_c(model, root / name, utterances=texts[:2])
    build = c_build.build(root / name, root / f"build-{name}", "host", expected_output=None)
    out = c_build.run_program(build, "host", stdin="\n".join(texts) + "\n", args=["-"])
    return [json.loads(line) for line in out.splitlines()[:len(texts)]]


@pytest.mark.parametrize("table", [True, False], ids=["transitions", "mask-only"])
def test_c_export_decodes_the_python_spans(coffee, table):
    import safu
    root, model, texts = coffee
    if not table:
        mf = read_model_file(model)
        tensors = {k: mf.tensor(k) for k in mf.tensors if k != "slot_transitions"}
        model = root / "coffee-mask.safu"
        write_model_file(model, mf.metadata, tensors)
    api = safu.load(model, backend="numpy")
    got = _c_predictions(model, root, "c-table" if table else "c-mask", texts)
    n_slots = 0
    for text, r in zip(texts, got):
        p = api.predict(text)
        assert (r["intent"], r["slots"]) == (p.intent, p.slots), text
        n_slots += len(p.slots)
    print(f"{len(texts)} sentences, {n_slots} slots identical in C and Python")
    assert n_slots > 300
