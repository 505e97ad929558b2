"""The C++ intent core against the numpy reference (models/reference.py) on every kind of intent
model: random F32 and I8 files, and models trained by the real trainer. Prints the max abs diff."""
import threading

import numpy as np
import pytest

from safu.export.model_file import read_model_file
from safu.models.reference import IntentReference

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

from cpp_model_fixtures import train_tiny_intent_model, write_random_intent_model  # noqa: E402

TOL = 1e-5
SENTENCES = [
    "turn on the kitchen lights", "switch off the bedroom lamp please", "set the temperature to 21.5 degrees",
    "what is the temperature in the living room", "lights on in the garage", "make it 19 degrees",
    "Turn OFF the Living Room lights!", "play some music", "", "zebra", "don't turn the café lights off",
    "heat the kitchen to 22 and turn on the lights in the bedroom then set the garage to 18 degrees now",
]


def _compare(path, id_lists):
    ref = IntentReference(read_model_file(path))
    cc = core.IntentModel(str(path))
    worst = 0.0
    for ids in id_lists:
        ids = np.asarray(ids, np.int64)
        a_ref, b_ref = ref.forward(ids)
        a_cc, b_cc = cc.forward(ids)
        assert a_cc.dtype == np.float32 and b_cc.dtype == np.float32
        assert a_cc.shape == a_ref.shape and b_cc.shape == b_ref.shape
        worst = max(worst, float(np.abs(a_cc - a_ref).max()))
        assert int(np.argmax(a_cc)) == int(np.argmax(a_ref))
        if len(ids):
            worst = max(worst, float(np.abs(b_cc - b_ref).max()))
            np.testing.assert_array_equal(b_cc.argmax(axis=1), b_ref.argmax(axis=1))
    return worst


@pytest.mark.parametrize("quantise", [False, True], ids=["f32", "i8"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_models_match_reference(tmp_path, seed, quantise):
    path = write_random_intent_model(tmp_path / "m.safu", seed=seed, quantise=quantise)
    rng = np.random.default_rng(seed)
    N = core.IntentModel(str(path)).vocab_size
    id_lists = [rng.integers(0, N, n) for n in range(0, 13) for _ in range(3)]
    worst = _compare(path, id_lists)
    print(f"random seed={seed} quantise={quantise}: max abs diff core vs numpy = {worst:.2e}")
    assert worst <= TOL


def test_edge_shapes_match_reference(tmp_path):
    # radius 0 (window of one), no bigrams, a single word vocabulary
    path = write_random_intent_model(tmp_path / "m.safu", seed=5, radius=0, bigram_buckets=0, n_words=1,
                                     max_tokens=3)
    worst = _compare(path, [[], [6], [6, 6, 4], [0, 1, 2]])
    print(f"edge shapes: max abs diff = {worst:.2e}")
    assert worst <= TOL


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_intent_model(tmp_path_factory.mktemp("trained") / "tiny.safu")


def test_trained_model_matches_reference(trained):
    cc = core.IntentModel(str(trained))
    id_lists = [cc.encode(s) for s in SENTENCES]
    worst = _compare(trained, id_lists)
    print(f"trained model: max abs diff core vs numpy = {worst:.2e}")
    assert worst <= TOL


def test_encode_matches_python_vocabulary(trained):
    from safu.models.tokenizer import Vocabulary
    mf = read_model_file(trained)
    vocab = Vocabulary.from_metadata(mf.metadata)
    cc = core.IntentModel(str(trained))
    for s in SENTENCES:
        np.testing.assert_array_equal(cc.encode(s), vocab.encode(s, mf.metadata["tokenizer.max_tokens"])[0])


def test_core_predict_equals_api_predict(trained):
    import safu
    api = safu.load(trained, backend="numpy")
    cc = core.IntentModel(str(trained))
    for s in SENTENCES:
        want = api.predict(s).to_dict()
        got = cc.predict(s)
        for key in ("intent", "best_intent", "slots", "spans", "reason", "truncated"):
            assert got[key] == want[key], (s, key)
        assert abs(got["confidence"] - want["confidence"]) <= TOL


def test_auto_backend_uses_the_core(trained):
    import safu
    from safu.runtime.backends import core_available
    assert core_available()
    model = safu.load(trained)  # backend="auto"
    assert isinstance(model._forward, core.IntentModel)
    ref = safu.load(trained, backend="numpy")
    for s in SENTENCES:
        a, b = model.predict(s), ref.predict(s)
        assert (a.intent, a.slots, a.best_intent) == (b.intent, b.slots, b.best_intent)
        assert abs(a.confidence - b.confidence) <= TOL



def test_public_api_on_the_core_builds_the_numpy_apis_prediction(trained):
    """The API's core path (the binding builds Prediction and SlotSpan itself) against the numpy
    path: every field, character offsets after non-ASCII text included, the same classes."""
    import dataclasses

    import safu
    from safu.runtime.api import Prediction, SlotSpan
    model, ref = safu.load(trained), safu.load(trained, backend="numpy")
    sentences = SENTENCES + ["é turn on the kitchen lights", "Ünïcode – set the temperature to 21 degrees"]
    n_spans = 0
    for s in sentences:
        a, b = model.predict(s), ref.predict(s)
        assert type(a) is Prediction and all(type(sp) is SlotSpan for sp in a.spans)
        assert abs(a.confidence - b.confidence) <= TOL
        assert dataclasses.replace(a, confidence=b.confidence) == b, s
        assert a.text is s
        n_spans += len(a.spans) if not s.isascii() else 0
    assert n_spans > 0   # offsets after non-ASCII characters were compared
    for m in (model, ref):
        with pytest.raises(TypeError, match="predict expects a str, got bytes"):
            m.predict(b"turn on the lights")

    @dataclasses.dataclass
    class Other:
        text: str
    with pytest.raises(TypeError, match="must be a dataclass with the fields"):
        model._forward.bind_result_types(Other, SlotSpan)

def test_forward_input_checks(trained):
    cc = core.IntentModel(str(trained))
    with pytest.raises(core.ShapeError, match="outside the vocabulary"):
        cc.forward(np.array([cc.vocab_size]))
    with pytest.raises(core.ShapeError, match="outside the vocabulary"):
        cc.forward(np.array([-1]))
    with pytest.raises(core.ShapeError, match="max_tokens"):
        cc.forward(np.full(cc.max_tokens + 1, 6))
    with pytest.raises(core.ShapeError, match="1-D"):
        cc.forward(np.zeros((2, 2), np.int64))
    a32, _ = cc.forward(np.array([6, 7], np.int32))
    a64, _ = cc.forward(np.array([6, 7], np.int64))
    np.testing.assert_array_equal(a32, a64)


def test_metadata_accessors(trained):
    mf = read_model_file(trained)
    cc = core.IntentModel(str(trained))
    assert cc.intents == mf.metadata["intent.labels"]
    assert cc.slot_labels == mf.metadata["slot.labels"]
    assert sorted(cc.slot_names) == sorted({lab[2:] for lab in mf.metadata["slot.labels"] if lab != "O"})
    assert cc.vocab_size == len(mf.metadata["tokenizer.vocab"])
    assert cc.max_tokens == mf.metadata["tokenizer.max_tokens"]
    assert cc.dim == mf.metadata["model.dim"]
    assert abs(cc.threshold - mf.metadata["intent.threshold"]) < 1e-7
    assert cc.memory_bytes > 0 and cc.path == str(trained)


def test_one_model_serves_many_threads(trained):
    cc = core.IntentModel(str(trained))
    texts = SENTENCES * 20
    expect = [cc.predict(t) for t in texts]
    expect_fwd = [cc.forward(cc.encode(t)) for t in texts]
    errors = []

    def worker(k):
        for i in range(k, len(texts), 4):
            if cc.predict(texts[i]) != expect[i]:
                errors.append(("predict", texts[i]))
            a, b = cc.forward(cc.encode(texts[i]))
            if not (np.array_equal(a, expect_fwd[i][0]) and np.array_equal(b, expect_fwd[i][1])):
                errors.append(("forward", texts[i]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _random_sentences(vocab, count, seed):
    rng = np.random.default_rng(seed)
    words = [w for w in vocab if not w.startswith("<")] + ["zebra", "42", "19.5"]
    return [" ".join(rng.choice(words, int(rng.integers(1, 14)))) for _ in range(count)]


def _with_tensors(src, dst, threshold=0.0, **changes):
    """A copy of the model file with intent.threshold set and tensors replaced (None = removed)."""
    from safu.export.model_file import write_model_file
    mf = read_model_file(src)
    metadata = dict(mf.metadata, **{"intent.threshold": threshold})
    tensors = {k: mf.tensor(k) for k in mf.tensors}
    for k, v in changes.items():
        if v is None:
            tensors.pop(k, None)
        else:
            tensors[k] = v
    write_model_file(dst, metadata, tensors)
    return dst


def _spans_agree(path, sentences):
    import safu
    api = safu.load(path, backend="numpy")
    cc = core.IntentModel(str(path))
    n_spans = 0
    for s in sentences:
        want, got = api.predict(s).to_dict(), cc.predict(s)
        keys = ("best_intent", "slots", "spans")
        assert [got[k] for k in keys] == [want[k] for k in keys], s
        n_spans += len(want["spans"])
    return n_spans


def test_core_viterbi_spans_equal_numpy_on_many_sentences(trained, tmp_path):
    from safu.models.slot_transitions import fit_slot_transitions
    mf = read_model_file(trained)
    assert "slot_transitions" in mf.tensors    # the trainer writes it
    vocab = mf.metadata["tokenizer.vocab"]
    sentences = SENTENCES + _random_sentences(vocab, 400, 0)
    open_model = _with_tensors(trained, tmp_path / "t.safu")
    n = _spans_agree(open_model, sentences)
    # Files without the table decode with the BIO mask alone, the same way in both.
    n += _spans_agree(_with_tensors(trained, tmp_path / "mask.safu", slot_transitions=None), sentences)
    # A random model and a random (strong) transition table reach every label pair.
    rng = np.random.default_rng(3)
    rand = write_random_intent_model(tmp_path / "r.safu", seed=3)
    rlabels = read_model_file(rand).metadata["slot.labels"]
    seqs = [rng.integers(0, len(rlabels), 6) for _ in range(30)]
    table = fit_slot_transitions(seqs, rlabels, weight=3.0)
    rvocab = read_model_file(rand).metadata["tokenizer.vocab"]
    n += _spans_agree(_with_tensors(rand, tmp_path / "rt.safu", slot_transitions=table),
                      _random_sentences(rvocab, 400, 1))
    print(f"{n} spans identical in the C++ core and numpy")
    assert n > 300


def test_core_refuses_a_transition_table_of_the_wrong_shape(trained, tmp_path):
    S = len(read_model_file(trained).metadata["slot.labels"])
    bad = _with_tensors(trained, tmp_path / "bad.safu", slot_transitions=np.zeros((S, S), np.float32))
    with pytest.raises(core.ShapeError, match="slot_transitions"):
        core.IntentModel(str(bad))


def _cased(sentences, seed):
    """Each sentence in a random mix of letter cases: words capitalised, all caps, or left."""
    rng = np.random.default_rng(seed)
    out = []
    for s in sentences:
        words = s.split(" ")
        pick = rng.integers(0, 4, len(words))
        out.append(" ".join(w.capitalize() if k == 1 else w.upper() if k == 2 and len(w) > 1 else w
                            for w, k in zip(words, pick)))
    return out


def test_core_letter_case_evidence_equals_numpy(trained, tmp_path):
    # A strong random slot_case table, so the flags decide spans; the same spans in the C++ core and
    # numpy on capitalised, all-caps, title-cased and lower-case input.
    from safu.models.slot_case import N_CASE_FEATURES
    mf = read_model_file(trained)
    vocab, S = mf.metadata["tokenizer.vocab"], len(mf.metadata["slot.labels"])
    table = np.random.default_rng(5).normal(0.0, 3.0, (N_CASE_FEATURES, S)).astype(np.float32)
    plain = SENTENCES + _random_sentences(vocab, 300, 4)
    sentences = plain + _cased(plain, 6) + [s.title() for s in plain[:40]] + [s.upper() for s in plain[:40]]
    with_case = _with_tensors(trained, tmp_path / "case.safu", slot_case=table)
    without = _with_tensors(trained, tmp_path / "nocase.safu", slot_case=None)
    n = _spans_agree(with_case, sentences)
    assert n > 300
    # the table changes answers on cased input, none on lower-case or all-caps input
    import safu
    a, b = safu.load(with_case, backend="numpy"), safu.load(without, backend="numpy")
    changed = sum(a.predict(s).spans != b.predict(s).spans for s in _cased(plain, 6))
    assert changed > 20
    for s in plain + [s.upper() for s in plain]:
        if s == s.lower() or s == s.upper():
            assert a.predict(s).spans == b.predict(s).spans, s


def test_core_refuses_a_case_table_of_the_wrong_shape(trained, tmp_path):
    from safu.export.intent_check import IntentModelError, check_intent_model
    S = len(read_model_file(trained).metadata["slot.labels"])
    bad = _with_tensors(trained, tmp_path / "bad.safu", slot_case=np.zeros((4, S), np.float32))
    with pytest.raises(core.ShapeError, match="slot_case"):
        core.IntentModel(str(bad))
    with pytest.raises(IntentModelError, match="slot_case"):
        check_intent_model(read_model_file(bad))


def test_core_trims_a_possessive_as_numpy(trained, tmp_path):
    # Every slot in slot.trim_possessive: spans ending in "'s" lose it, the same in both backends.
    from safu.export.model_file import write_model_file
    import safu
    mf = read_model_file(trained)
    names = sorted({lab[2:] for lab in mf.metadata["slot.labels"] if lab != "O"})
    path = tmp_path / "trim.safu"
    # every other word is read as itself with "'s" (its row unchanged), so spans end in one
    taken = set(mf.metadata["tokenizer.vocab"]) | set(mf.metadata.get("tokenizer.aliases", []))
    vocab = [w + "'s" if i > 6 and i % 2 and w + "'s" not in taken else w
             for i, w in enumerate(mf.metadata["tokenizer.vocab"])]
    write_model_file(path, dict(mf.metadata, **{"intent.threshold": 0.0, "slot.trim_possessive": names,
                                                "tokenizer.vocab": vocab}),
                     {k: mf.tensor(k) for k in mf.tensors})
    sentences = _random_sentences(vocab, 600, 8)
    sentences += [s.replace("'s", "'S") for s in sentences[:100]]
    assert _spans_agree(path, sentences) > 100
    api = safu.load(path, backend="numpy")
    spans = [(s, sp) for s in sentences for sp in api.predict(s).spans]
    assert not any(sp.text.lower().endswith("'s") for _, sp in spans)
    assert sum(s[sp.end:sp.end + 2].lower() == "'s" for s, sp in spans) > 10   # trimmed ones
    bad = tmp_path / "bad.safu"
    write_model_file(bad, dict(mf.metadata, **{"slot.trim_possessive": ["nope"]}), {k: mf.tensor(k) for k in mf.tensors})
    with pytest.raises(core.FormatError, match="slot.trim_possessive entry 'nope' is not a slot"):
        core.IntentModel(str(bad))
    with pytest.raises(ValueError, match="slot.trim_possessive entry 'nope' is not a slot"):
        safu.load(bad, backend="numpy")
