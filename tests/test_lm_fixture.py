"""The committed tiny LM (tests/fixtures/lm_tiny.safu): the numpy reference reproduces its expected
tokens exactly and its log-probabilities within 1e-4 (the same file the C++ core is checked on)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from safu.models.lm import LMModel
from safu.models.lm_stream import generate

FIX = Path(__file__).resolve().parent / "fixtures"


def test_tiny_fixture_generations_and_logprobs():
    model = LMModel.load(FIX / "lm_tiny.safu")
    exp = json.loads((FIX / "lm_tiny_expected.json").read_text())
    prompt = exp["prompt_ids"]
    assert generate(model, prompt, exp["max_tokens"], greedy=True) == exp["greedy"]
    for s in exp["samples"]:
        got = generate(model, prompt, exp["max_tokens"], s["temperature"], s["top_k"], s["seed"])
        assert got == s["ids"], s
    lp = model.all_logprobs(np.array(exp["doc_ids"]))
    assert np.abs(lp - np.array(exp["doc_logprobs"])).max() <= 1e-4
