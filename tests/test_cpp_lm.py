"""The C++ streaming LM (safu._core.LmModel/LmStream) against the numpy batch forward of
docs/lm_model.md (safu.models.lm.LMModel.all_logprobs) and the numpy streaming reference."""
import numpy as np
import pytest

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

from cpp_model_fixtures import write_random_lm_model  # noqa: E402

TOL = 1e-4  # docs/lm_model.md: log-probabilities agree within 1e-4


def _lm():
    return pytest.importorskip("safu.models.lm", reason="the numpy LM (branch lm) is not merged yet")


def _docs(N, seed, lengths=(0, 1, 3, 4, 5, 9, 17, 40)):
    rng = np.random.default_rng(seed)
    return [rng.integers(3, N, n) for n in lengths]  # ids 3..N-1 (<eod> included: ends nothing here)


@pytest.mark.parametrize("shape", [dict(), dict(doc_groups=0), dict(block_size=2, radius=1),
                                   dict(block_size=8, radius=5, doc_groups=3)],
                         ids=["b4r3g2", "no_doc", "b2r1", "b8r5g3"])
def test_stream_matches_numpy_batch(tmp_path, shape):
    lm = _lm()
    path = write_random_lm_model(tmp_path / "lm.safu", seed=3, **shape)
    ref = lm.LMModel.load(path)
    cc = core.LmModel(str(path))
    worst = 0.0
    for ids in _docs(cc.vocab_size, 0):
        ids = ids[ids != 3]  # an <eod> inside would end the document
        want = ref.all_logprobs(ids)
        got = cc.all_logprobs(ids)
        assert got.shape == want.shape == (len(ids) + 1, cc.vocab_size)
        worst = max(worst, float(np.abs(got - want).max()))
    print(f"lm {shape}: max abs diff core stream vs numpy batch = {worst:.2e}")
    assert worst <= TOL


def test_stream_matches_numpy_stream_and_eod_resets(tmp_path):
    lm_stream = pytest.importorskip("safu.models.lm_stream", reason="the numpy LM (branch lm) is not merged yet")
    lm = _lm()
    path = write_random_lm_model(tmp_path / "lm.safu", seed=4)
    ref = lm_stream.LMStream(lm.LMModel.load(path))
    s = core.LmModel(str(path)).stream()
    rng = np.random.default_rng(1)
    worst = 0.0
    for t in rng.integers(3, 36, 300):  # includes <eod> (3) now and then: both reset
        worst = max(worst, float(np.abs(s.logprobs() - ref.logprobs()).max()))
        s.feed(int(t))
        ref.feed(int(t))
        assert s.position == ref.i
    assert worst <= TOL


def test_stream_is_self_consistent_without_numpy_lm(tmp_path):
    # Holds even before the numpy LM lands: normalised, resets on <eod>, score() == sum of logprobs.
    path = write_random_lm_model(tmp_path / "lm.safu", seed=5)
    m = core.LmModel(str(path))
    s = m.stream()
    first = s.logprobs()
    assert abs(np.exp(first.astype(np.float64)).sum() - 1) < 1e-4
    ids = np.array([6, 7, 8, 9, 10, 11, 12], np.int64)
    total = s.score(ids)
    lp = m.all_logprobs(ids)
    assert abs(total - sum(float(lp[i, t]) for i, t in enumerate(ids))) < 1e-3
    s.feed(3)  # <eod>
    np.testing.assert_array_equal(s.logprobs(), first)
    with pytest.raises(core.ShapeError, match="cannot feed id 1"):
        s.feed(1)
    with pytest.raises(core.ShapeError):
        s.feed(m.vocab_size)


def test_lm_file_errors(tmp_path):
    from cpp_model_fixtures import random_lm_tensors
    from safu.export.model_file import write_model_file
    meta, tensors = random_lm_tensors(0)
    tensors["final.U"] = tensors["final.U"][:, :-1]
    write_model_file(tmp_path / "bad.safu", meta, tensors)
    with pytest.raises(core.ShapeError, match="final.U"):
        core.LmModel(str(tmp_path / "bad.safu"))
    meta, tensors = random_lm_tensors(0)
    meta["lm.block_mode"] = "cat"
    write_model_file(tmp_path / "bad2.safu", meta, tensors)
    with pytest.raises(core.FormatError, match="block_mode"):
        core.LmModel(str(tmp_path / "bad2.safu"))


def test_sampler_matches_numpy_sampler():
    sampler = pytest.importorskip("safu.models.sampler", reason="the numpy LM (branch lm) is not merged yet")
    a, b = core.SplitMix64(12345), sampler.SplitMix64(12345)
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]
    assert [a.uniform() for _ in range(50)] == [b.uniform() for _ in range(50)]
    rng = np.random.default_rng(0)
    for trial in range(200):
        logp = np.log(rng.dirichlet(np.full(40, 0.3))).astype(np.float32)
        temperature, top_k = [0.5, 1.0, 1.7][trial % 3], [0, 1, 5, 39, 100][trial % 5]
        ra, rb = core.SplitMix64(trial), sampler.SplitMix64(trial)
        got = [core.pick(logp, ra, temperature, top_k) for _ in range(5)]
        want = [sampler.pick(logp, rb, temperature, top_k) for _ in range(5)]
        assert got == want
        assert core.pick(logp, None, greedy=True) == sampler.pick(logp, None, greedy=True)


def test_sampler_contract():
    rng = core.SplitMix64(0)
    # splitmix64's published first output for seed 0
    assert rng.next() == 0xE220A8397B1DCDAF
    logp = np.log(np.full(10, 0.1, np.float32))
    logp[1] = 0.0  # <sod> is never picked, even when it is the most likely
    assert core.pick(logp, None, greedy=True) == 3
    picks = {core.pick(logp, rng, 1.0, 0) for _ in range(200)}
    assert picks <= set(range(3, 10)) and len(picks) > 3
    assert {core.pick(logp, rng, 1.0, 1) for _ in range(20)} == {3}  # top-1 = lowest id among the ties
    with pytest.raises(core.ShapeError, match="temperature"):
        core.pick(logp, rng, 0.0, 0)
