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
