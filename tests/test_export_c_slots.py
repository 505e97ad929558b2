"""Slot decoding in the C export (export/c_runtime/safu_mcu.c): the generated project decodes the
same spans as the Python API on a trained model with a slot_transitions table (BIO Viterbi), and
on the same model without the table (legal-transition mask alone)."""
from __future__ import annotations

import json
import random

import pytest
from device_support import SHARED_DATA

from safu.export import c_build
from safu.export.c_export import export_c
from safu.export.model_file import read_model_file, write_model_file

COFFEE = SHARED_DATA / "picovoice-coffee" / "coffee_maker.yaml"


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


def _assert_c_decodes_as_numpy(model, root, name, texts):
    """The C export's intent and slots equal the numpy backend's on every text (over 300 slots in all);
    returns the numpy model."""
    import safu
    api = safu.load(model, backend="numpy")
    got = _c_predictions(model, root, name, texts)
    n_slots = 0
    for text, r in zip(texts, got):
        p = api.predict(text)
        assert (r["intent"], r["slots"]) == (p.intent, p.slots), text
        n_slots += len(p.slots)
    print(f"{len(texts)} sentences, {n_slots} slots identical in C and Python")
    assert n_slots > 300
    return api


@pytest.mark.parametrize("table", [True, False], ids=["transitions", "mask-only"])
def test_c_export_decodes_the_python_spans(coffee, table):
    root, model, texts = coffee
    if not table:
        mf = read_model_file(model)
        tensors = {k: mf.tensor(k) for k in mf.tensors if k != "slot_transitions"}
        model = root / "coffee-mask.safu"
        write_model_file(model, mf.metadata, tensors)
    _assert_c_decodes_as_numpy(model, root, "c-table" if table else "c-mask", texts)


def test_c_export_adds_the_letter_case_evidence_and_trims_possessives(coffee):
    # A strong random slot_case table and input in mixed letter case: the C export decodes the
    # numpy spans (flags from the input bytes, table rows summed as docs/intent_model.md has it).
    import numpy as np

    import safu
    from safu.models.slot_case import N_CASE_FEATURES
    root, model, texts = coffee
    mf = read_model_file(model)
    tensors = {k: mf.tensor(k) for k in mf.tensors}
    S = len(mf.metadata["slot.labels"])
    tensors["slot_case"] = np.random.default_rng(7).normal(0.0, 20.0, (N_CASE_FEATURES, S)).astype(np.float32)
    # and a possessive "'s" trimmed off every slot's spans: "milk" and "sugar" are read as "milk's", "sugar's"
    possessive = {"milk": "milk's", "sugar": "sugar's"}
    vocab = [possessive.get(w, w) for w in mf.metadata["tokenizer.vocab"]]
    names = sorted({lab[2:] for lab in mf.metadata["slot.labels"] if lab != "O"})
    model = root / "coffee-case.safu"
    write_model_file(model, dict(mf.metadata, **{"tokenizer.vocab": vocab, "slot.trim_possessive": names}), tensors)
    rng = random.Random(1)
    cased = [" ".join(w.capitalize() if rng.random() < 0.4 else w.upper() if rng.random() < 0.1 else w
                      for w in (possessive.get(w, w) for w in t.split(" "))) for t in texts]
    api = _assert_c_decodes_as_numpy(model, root, "c-case", cased)
    plain = safu.load(root / "coffee.safu", backend="numpy")
    assert sum(plain.predict(t).slots != api.predict(t).slots for t in cased) > 10   # the table decides spans
    trimmed = [sp for t in cased for sp in api.predict(t).spans if t[sp.end:sp.end + 2].lower() == "'s"]
    assert len(trimmed) > 10
