"""Loading an intent model: the core parses and checks the file once, its per-token tables fill on
first use, and what only Python reads is parsed from the same bytes on demand. Whatever order the
words come in, and from however many threads, the probabilities are those of a fresh model and of
the numpy reference. (Load time is measured by `safu bench`, not asserted here.)"""
import threading

import numpy as np
import pytest

from safu.export.model_file import ModelFormatError, read_model_file
from safu.runtime.api import DEFAULT_MODEL, IntentModel

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

TEXTS = ["turn on the kitchen lights", "set the bedroom thermostat to 21", "what's the weather like",
         "open the garage door", "turn off all the lights in the living room", "zebra", ""]


def _probabilities(model, texts):
    return {t: model.probabilities(t)[2:] for t in texts}


def test_first_use_order_does_not_change_the_probabilities():
    forward = IntentModel(DEFAULT_MODEL)
    backward = IntentModel(DEFAULT_MODEL)
    a = _probabilities(forward, TEXTS)
    b = _probabilities(backward, list(reversed(TEXTS)))
    reference = IntentModel(DEFAULT_MODEL, backend="numpy")
    for text in TEXTS:
        np.testing.assert_array_equal(a[text][0], b[text][0])   # bit for bit
        np.testing.assert_array_equal(a[text][1], b[text][1])
        p_ref, s_ref = reference.probabilities(text)[2:]
        assert np.abs(a[text][0] - p_ref).max() < 1e-5
        if len(s_ref):
            assert np.abs(a[text][1] - s_ref).max() < 1e-5
    assert [forward.predict(t).to_dict() for t in TEXTS] == [backward.predict(t).to_dict() for t in TEXTS]


def test_threads_filling_the_tables_at_once_agree_with_one_thread():
    serial = IntentModel(DEFAULT_MODEL)
    want = [serial.predict(t).to_dict() for t in TEXTS]
    for _ in range(3):   # a fresh model each time, so the threads meet unfilled tables
        shared = IntentModel(DEFAULT_MODEL)
        got, errors = {}, []

        def run(k):
            try:
                got[k] = [shared.predict(t).to_dict() for t in (TEXTS[k:] + TEXTS[:k])]
            except Exception as exc:   # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for k, answers in got.items():
            assert answers == want[k:] + want[:k]


def test_python_side_attributes_come_from_the_same_file():
    model = IntentModel(DEFAULT_MODEL)
    mf = read_model_file(DEFAULT_MODEL)
    assert model.intents == list(mf.metadata["intent.labels"])
    assert model.slot_labels == list(mf.metadata["slot.labels"])
    assert model.threshold == pytest.approx(mf.metadata["intent.threshold"], abs=0)
    assert model.max_tokens == mf.metadata["tokenizer.max_tokens"]
    assert len(model.vocab) == len(mf.metadata["tokenizer.vocab"])
    assert model.sentences == list(mf.metadata["train.sentences"])
    assert len(model.synonyms) == len(mf.metadata["slot.synonyms"])
    numpy = IntentModel(DEFAULT_MODEL, backend="numpy")
    assert (model.slot_names, model.sentences[:5]) == (numpy.slot_names, numpy.sentences[:5])
    assert np.array_equal(model.slot_allowed, numpy.slot_allowed)


def test_a_bad_file_is_a_model_format_error_on_both_backends(tmp_path):
    data = bytearray(DEFAULT_MODEL.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF   # in the tensors: a CRC no longer matches
    bad = tmp_path / "bad.safu"
    bad.write_bytes(bytes(data))
    messages = set()
    for backend in ("core", "numpy"):
        with pytest.raises(ModelFormatError) as err:
            IntentModel(bad, backend=backend)
        messages.add(str(err.value))
    message = messages.pop()
    assert not messages and message.startswith(f"{bad}: ") and "CRC mismatch" in message
    with pytest.raises(FileNotFoundError):
        IntentModel(tmp_path / "missing.safu")


def test_the_core_loads_from_bytes_under_the_callers_name():
    model = core.IntentModel.from_bytes(DEFAULT_MODEL.read_bytes(), "home.safu")
    assert model.path == "home.safu"
    with pytest.raises(core.FormatError, match=r"^home\.safu: file is 3 bytes"):
        core.IntentModel.from_bytes(b"abc", "home.safu")
