"""Blockwise training: cutting the sentences into blocks changes no row and (up to the order of
float sums) no fitted number; the sparse pooled features are the dense ones of docs/intent_model.md.

Memory itself is measured by bench/bench_train_memory.py, not asserted here.
"""
import itertools

import numpy as np
import pytest
import scipy.optimize

from safu.models import features as feat
from safu.models import intent_head, intent_model
from safu.models.intent_model import IntentConfig, bio_labels, build_vocab, fit_intent_model, prepare
from safu.models.safu_unit import log_softmax
from logistic_reference import dense_logistic_objective
from safu.models.slot_values import slot_value_entries
from safu.models.tokenizer import SOD, tokenize
from safu.runtime.datasets import Example
from intent_examples import example

ROOMS = ["kitchen", "living room", "bedroom", "office", "hall", "garage"]
DEVICES = ["lights", "fan", "heater", "tv"]


def domain() -> list[Example]:
    """About 300 sentences, 4 intents, 3 slots, lengths 2..9 tokens (a word twice in some)."""
    out = []
    for verb, room, dev in itertools.product(["turn on", "switch on", "please turn on the"], ROOMS, DEVICES):
        out.append(example(f"{verb} the {{room}} {{device}}", "On", room=(room, room), device=(dev, dev)))
        out.append(example(f"{verb.replace('on', 'off')} the {{device}} in the {{room}}", "Off",
                            room=(room, room), device=(dev, dev)))
    for n, unit in itertools.product(["5", "10", "twenty", "3", "ninety"], ["minutes", "seconds", "hours"]):
        out.append(example(f"set a timer for {{duration}} {unit}", "Timer", duration=(n, n)))
        out.append(example(f"timer timer {{duration}} {unit} please", "Timer", duration=(n, n)))
    for q in ["what's the weather", "weather", "is it going to rain tomorrow or not", "how cold is it outside",
              "weather forecast please weather"]:
        out.append(Example(q, "Weather", []))
    return out


OOS = ["tell me a joke", "who won the game", "how old are you", "sing a song", "i like trains"]


def _fit(monkeypatch, block_tokens: int, head_rows: int):
    monkeypatch.setattr(intent_model, "BLOCK_TOKENS", block_tokens)
    monkeypatch.setattr(intent_head, "ROWS_PER_BLOCK", head_rows)
    return fit_intent_model(domain(), IntentConfig(bigram_buckets=64, head_iterations=40), out_of_scope=OOS)


def test_block_size_does_not_change_the_model(monkeypatch):
    one = _fit(monkeypatch, 1 << 30, 1 << 30)        # every pass over all sentences at once
    tiny = _fit(monkeypatch, 16, 5)                  # blocks of one to three sentences
    for name, a in one.tensors.items():
        b = tiny.tensors[name]
        assert a.shape == b.shape, name
        # the only difference is the order of float sums across blocks; L-BFGS carries it further
        rtol = 1e-7 if name in ("intent_U", "intent_b") else 1e-12
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max(), err_msg=name)
    assert abs(one.threshold - tiny.threshold) < 1e-6
    assert one.stats["slot_block_weight"] == tiny.stats["slot_block_weight"]
    assert one.stats["intent_block_weights"] == tiny.stats["intent_block_weights"]


def _random_batch(rng, M=60, N=30) -> feat.Batch:
    return feat.Batch.from_ids([rng.integers(6, N, size=rng.integers(0, 12)) for _ in range(M)])


def test_row_arithmetic_is_the_same_in_any_block():
    rng = np.random.default_rng(1)
    batch = _random_batch(rng)
    R = rng.random((30, 16))
    W = rng.standard_normal((50, 50))
    whole = feat.intent_attention_weights(batch, R, W, 1 << 30)
    for block in (1, 5, 40):
        assert np.array_equal(feat.intent_attention_weights(batch, R, W, block), whole)
    assert len(whole) == batch.L.sum() and np.allclose(np.add.reduceat(whole, np.r_[0, np.cumsum(batch.L)[:-1]]), 1)
    Q = rng.random((97, 5))
    Wk = rng.standard_normal((5, 5))
    mixed = feat.position_mix(Q, Wk)
    np.testing.assert_allclose(mixed, Q @ Wk, rtol=1e-13, atol=1e-13)
    assert np.array_equal(np.concatenate([feat.position_mix(Q[i:i + 3], Wk) for i in range(0, 97, 3)]), mixed)
    _, _, win = batch.slot_windows(2)
    assert np.array_equal(feat.slot_comparisons(win, R, 2, chunk=3), feat.slot_comparisons(win, R, 2))
    blocks = list(feat.row_blocks(batch, 20))
    assert blocks[0].start == 0 and blocks[-1].stop == len(batch)
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    assert all(batch.L[b].sum() <= 20 or b.stop - b.start == 1 for b in blocks)


def test_blockwise_cooc_sums_are_those_of_one_sentence_at_a_time():
    from safu.models.cooc import cooc_sums

    rng = np.random.default_rng(3)
    batch = _random_batch(rng, M=200)
    E = rng.random((30, 8))
    rows = [batch.S[m, :batch.L[m]] for m in range(len(batch))]
    for mode, radius in itertools.product(("cat", "sum"), (1, 2, 3)):
        one_by_one = cooc_sums(rows, E, radius, mode)
        for block in (1, 17, 1 << 20):   # the same float sums, in the same order: the same bits
            assert np.array_equal(feat.cooc_sums(batch, E, radius, mode, block), one_by_one), (mode, radius, block)
    with pytest.raises(ValueError, match="cooc mode"):
        feat.cooc_sums(batch, E, 1, "max")


def test_pooled_weights_give_the_dense_rows():
    rng = np.random.default_rng(2)
    batch = _random_batch(rng)
    R = rng.random((30, 16))
    W = rng.standard_normal((50, 50))
    f_row = np.stack([R[batch.S[m, :batch.L[m]]].mean(axis=0) for m in range(len(batch))])
    np.testing.assert_allclose(feat.row_features(batch, R), f_row, rtol=1e-12)
    a = feat.intent_attention_weights(batch, R, W, 1 << 30)
    starts = np.r_[0, np.cumsum(batch.L)[:-1]]
    f_att = np.stack([a[s:s + n] @ R[batch.S[m, :n]] for m, (s, n) in enumerate(zip(starts, batch.L))])
    np.testing.assert_allclose(feat.intent_attention(batch, R, W) @ R, f_att, rtol=1e-12)
    # and the attention itself is docs/intent_model.md step 4 for one utterance
    m = int(np.argmax(batch.L))
    seq = batch.S[m, :batch.L[m]]
    q = R[seq] @ R[seq[0]]
    assert seq[0] == SOD
    att = -log_softmax(q @ W[:len(seq), :len(seq)])
    np.testing.assert_allclose(a[starts[m]:starts[m] + len(seq)], att / att.sum(), rtol=1e-12)


def _dense_head(batch, att, R, N, B):
    """[f_bow, f_big, f_row, f_att] for every sentence as one dense array, as docs/intent_model.md."""
    M = len(batch)
    H = np.zeros((M, N + B + 2 * R.shape[1]))
    for m in range(M):
        seq = batch.S[m, :batch.L[m]]
        np.add.at(H[m], seq, 1.0 / len(seq))
        np.add.at(H[m], N + feat.bigram_bucket(seq[:-1], seq[1:], B), 1.0 / (len(seq) - 1))
    H[:, N + B:N + B + R.shape[1]] = feat.row_features(batch, R)
    H[:, N + B + R.shape[1]:] = att @ R
    return H


def test_sparse_head_fits_what_the_dense_head_fits():
    rng = np.random.default_rng(3)
    N, B, C = 30, 16, 4
    batch = _random_batch(rng, M=80, N=N)
    R = rng.random((N, 8))
    att = feat.intent_attention(batch, R, rng.standard_normal((50, 50)))
    H = intent_head.head_features(batch, att, R, N, B)
    dense = _dense_head(batch, att, R, N, B)
    U = rng.standard_normal((N + B + 2 * R.shape[1], C))
    b = rng.standard_normal(C)
    np.testing.assert_allclose(H.logits(U, b), dense @ U + b, rtol=1e-12, atol=1e-12)

    y = rng.integers(0, C, size=len(batch))
    w = rng.random(len(batch)) + 0.5
    ds = np.r_[np.ones(R.shape[1]), np.full(R.shape[1], 3.0), np.ones(R.shape[1]), np.full(R.shape[1], 3.0)][:2 * R.shape[1]]
    l2 = 1e-3
    U0 = 0.1 * rng.standard_normal(U.shape)
    got, got_b, _ = intent_head.fit_logistic_head(H, y, U0, np.zeros(C), l2, 30, w, dense_scale=ds)

    # the same problem written densely: columns scaled by ds, the scale folded back afterwards
    n_sparse = N + B
    scale = np.r_[np.ones(n_sparse), ds]
    X = dense * scale
    objective = dense_logistic_objective(X, y, w, l2, C)

    theta0 = np.concatenate([(U0 / scale[:, None]).ravel(), np.zeros(C)])
    res = scipy.optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": 30, "maxcor": 10})
    want = res.x[:-C].reshape(U.shape) * scale[:, None]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_b, res.x[-C:], rtol=1e-6, atol=1e-8)


def test_from_flat_is_from_ids():
    rng = np.random.default_rng(4)
    ids = [rng.integers(6, 40, size=n) for n in (3, 0, 7, 1, 7)]
    a = feat.Batch.from_ids(ids)
    b = feat.Batch.from_flat(np.concatenate(ids), np.array([len(x) for x in ids]))
    assert np.array_equal(a.S, b.S) and np.array_equal(a.mask, b.mask) and np.array_equal(a.L, b.L)


def test_prepare_counts_as_it_goes():
    examples = domain() + [intent_model._PlainExample("tell me a joke about trains", intent_model.NONE_INTENT)]
    names = sorted({s.name for ex in examples for s in ex.slots})
    labels = ["O"] + [f"{p}-{n}" for n in names for p in ("B", "I")]
    index = {lab: i for i, lab in enumerate(labels)}
    cut = 5
    prep = prepare(examples, index, cut)
    tokenised = [tokenize(ex.text) for ex in examples]
    vocab = build_vocab([[t.text for t in toks] for ex, toks in zip(examples, tokenised)
                         if ex.intent != intent_model.NONE_INTENT])
    assert prep.vocab.tokens == vocab
    assert "trains" not in vocab and "ninety" in vocab        # out-of-scope words stay unknown
    assert np.array_equal(prep.ids, np.concatenate([[prep.vocab.lookup(t.text) for t in toks[:cut]]
                                                     for toks in tokenised]))
    assert prep.lengths.tolist() == [min(len(t), cut) for t in tokenised]
    assert np.array_equal(prep.labels, np.concatenate([bio_labels(toks[:cut], ex.slots, index)
                                                        for toks, ex in zip(tokenised, examples)]))
    assert [s.tolist() for s in prep.label_sequences()] == [bio_labels(toks[:cut], ex.slots, index).tolist()
                                                           for toks, ex in zip(tokenised, examples)]
    assert prep.slot_values == slot_value_entries(examples, tokenised)
    with pytest.raises(ValueError, match="empty after tokenisation"):
        prepare([Example("?!", "A", []), Example("...", "B", [])], index, cut)
