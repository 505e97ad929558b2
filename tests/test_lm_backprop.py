"""Backprop polish: hand-written gradients match finite differences; Adam lowers dev perplexity."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from lm_testdata import synthetic_corpus

from safu.models.lm import LMConfig, train_lm
from safu.models.lm_backprop import PARAMS, loss_and_grads, polish, random_init
from safu.models.lm_corpus import build_vocabulary, encode_documents, split_documents


@pytest.fixture(scope="module")
def data():
    docs = split_documents(synthetic_corpus(100))
    vocab = build_vocabulary(docs[:80], 300)
    tr, dv = encode_documents(vocab, docs[:80]), encode_documents(vocab, docs[80:])
    cfg = LMConfig(max_vocab=300, block_size=6, block_bits=16, radius=3, radial_bits=12, tuning_rounds=1,
                   doc_groups=4)
    return train_lm(tr, vocab, cfg), tr, dv


def test_gradients_match_finite_differences(data):
    model, tr, _ = data
    m = random_init(model, seed=3, scale=0.3)
    m = replace(m, **{k: getattr(m, k).astype(np.float64) for k in PARAMS},
                block_table=m.block_table.astype(np.float64), radial_table=m.radial_table.astype(np.float64))
    ctx, rows = m.contexts(tr), np.arange(150)
    _, grads = loss_and_grads(m, ctx, rows)
    rng = np.random.default_rng(0)
    for name in PARAMS:
        P = getattr(m, name)
        for flat in rng.choice(P.size, 3, replace=False):
            idx = np.unravel_index(flat, P.shape)
            P[idx] += 1e-5
            up, _ = loss_and_grads(m, ctx, rows)
            P[idx] -= 2e-5
            down, _ = loss_and_grads(m, ctx, rows)
            P[idx] += 1e-5
            numeric = (up - down) / 2e-5
            assert abs(grads[name][idx] - numeric) <= 1e-6 + 1e-4 * abs(numeric), (name, idx)


def test_polish_lowers_dev_perplexity_from_a_cold_start(data):
    model, tr, dv = data
    cold = random_init(model, seed=0)
    start, _ = cold.perplexity(dv)
    best, history = polish(cold, cold.contexts(tr), cold.contexts(dv), seconds=3.0, eval_every=10)
    end, _ = best.perplexity(dv)
    assert end < 0.8 * start, (start, end)
    assert best.info["backprop_steps"] >= 10 and len(history) >= 2
    assert best.info["dev_perplexity"] == pytest.approx(end, rel=1e-4)
    # The explicit model's own tables are kept frozen.
    np.testing.assert_array_equal(best.block_table, model.block_table)
