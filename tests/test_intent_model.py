"""The intent + slot model end to end on a small hand-made domain."""
import itertools
import json

import numpy as np
import pytest

from safu.export.model_file import read_model_file
from safu.models import features as feat
from safu.models.intent_model import IntentConfig, _Fitter, _predict_intents, fit_intent_model
from safu.models.reference import IntentReference
from safu.models.safu_unit import softmax
from safu.models.tokenizer import Vocabulary
from safu.runtime.api import load
from safu.runtime.datasets import Example
from intent_examples import example

AREAS = {"kitchen": "kitchen", "living room": "living_room", "lounge": "living_room", "bedroom": "bedroom",
         "office": "office"}


def small_domain() -> list[Example]:
    out = []
    for verb, area in itertools.product(["turn on", "switch on", "please turn on"], AREAS):
        out.append(example(f"{verb} the {{area}} lights", "LightsOn", area=(area, AREAS[area])))
        out.append(example(f"{verb.replace('on', 'off')} the {{area}} lights", "LightsOff", area=(area, AREAS[area])))
    for area in AREAS:
        out.append(example("lights on in the {area}", "LightsOn", area=(area, AREAS[area])))
        out.append(example("lights off in the {area}", "LightsOff", area=(area, AREAS[area])))
    for q in ["what's the weather", "what is the weather like today", "will it rain tomorrow",
              "is it going to be sunny", "weather forecast please", "how cold is it outside"]:
        out.append(Example(q, "GetWeather", []))
    for n, unit in itertools.product(["5", "10", "twenty", "3"], ["minutes", "seconds", "hours"]):
        out.append(example(f"set a timer for {{duration}} {unit}", "StartTimer", duration=(n, n)))
        out.append(example(f"start a {{duration}} {unit} timer", "StartTimer", duration=(n, n)))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model = fit_intent_model(small_domain(), IntentConfig(bigram_buckets=64), out_of_scope=[
        "tell me a joke", "who won the game", "how old are you", "sing a song"])
    path = tmp_path_factory.mktemp("m") / "small.safu"
    model.save(path)
    return model, path


def test_predicts_intents_and_canonical_slots(trained):
    _, path = trained
    m = load(path, backend="numpy")
    p = m.predict("please switch on the lounge lights")
    assert p.intent == "LightsOn" and p.slots == {"area": "living_room"}
    assert p.spans[0].text == "lounge"
    p = m.predict("turn off the kitchen lights")
    assert p.intent == "LightsOff" and p.slots == {"area": "kitchen"}
    assert m.predict("set a timer for 10 minutes").intent == "StartTimer"
    assert m.predict("what is the weather like").intent == "GetWeather"


def test_unknown_words_still_get_an_answer(trained):
    m = load(trained[1], backend="numpy")
    p = m.predict("zorp the kitchen lights on")
    assert 0.0 <= p.confidence <= 1.0 and p.best_intent in m.intents


def test_empty_and_huge_utterances(trained):
    m = load(trained[1], backend="numpy")
    p = m.predict("")
    assert p.intent is None and "empty" in p.reason
    assert m.predict("?!").intent is None
    big = " ".join(["lights"] * 10_000)
    p = m.predict(big)
    assert p.truncated and p.best_intent in m.intents


def test_out_of_scope_is_rejected_more_often_than_in_scope(trained):
    model, path = trained
    m = load(path, backend="numpy")
    assert 0.0 < model.threshold < 1.0
    oos = ["tell me a joke", "who is the president", "how far is the moon", "i like trains",
           "what is two plus two", "play some jazz"]
    rejected = sum(m.predict(s).intent is None for s in oos)
    kept = sum(m.predict(ex.text).intent == ex.intent for ex in small_domain())
    assert rejected >= 3
    assert kept / len(small_domain()) > 0.9


def test_training_features_match_the_reference_forward(trained):
    """The batched training-time computation and the one-utterance reference agree."""
    model, path = trained
    mf = read_model_file(path)
    vocab = Vocabulary.from_metadata(mf.metadata)
    f = _Fitter(model.config, vocab, len(model.intents), len(model.slot_labels))
    f.R, f.intent_W = mf.tensor("token_table").astype(np.float64), mf.tensor("intent_W").astype(np.float64)
    f.intent_U, f.intent_b = mf.tensor("intent_U").astype(np.float64), mf.tensor("intent_b").astype(np.float64)
    texts = ["turn on the office lights", "will it rain", "start a 3 hours timer", "x", "zorp zorp"]
    ids = [vocab.encode(t, model.config.max_tokens)[0] for t in texts]
    batched = _predict_intents(f, ids)
    ref = IntentReference(mf)
    for row, i in zip(batched, ids):
        np.testing.assert_allclose(ref.forward(i)[0], row, atol=2e-5)
        # the intent layer's input, as benchmarks read it: the forward pass is softmax(H @ U + b) of it
        H = ref.intent_features(i)
        assert H.shape == (ref.intent_U.shape[0],)
        np.testing.assert_allclose(softmax(H @ ref.intent_U + ref.intent_b), ref.forward(i)[0], atol=1e-6)


def test_slot_windows_cover_every_real_token():
    batch = feat.Batch.from_ids([np.array([7, 8, 9]), np.array([10])])
    rows, pos, win = batch.slot_windows(1)
    assert rows.tolist() == [0, 0, 0, 1] and pos.tolist() == [1, 2, 3, 1]
    assert win[0].tolist() == [1, 7, 8] and win[3].tolist() == [1, 10, 3]


def test_one_intent_is_a_clear_error():
    with pytest.raises(ValueError, match="at least two intents"):
        fit_intent_model([Example("turn on the lights", "On", [])] * 5)
    with pytest.raises(ValueError, match="no training examples"):
        fit_intent_model([])


def test_backprop_polish_runs_and_is_recorded(tmp_path):
    model = fit_intent_model(small_domain(), IntentConfig(bigram_buckets=64, polish_epochs=3))
    assert model.stats["polish_epochs_run"] >= 1
    model.save(tmp_path / "p.safu")
    assert read_model_file(tmp_path / "p.safu").metadata["train.polish_epochs"] >= 1
    assert load(tmp_path / "p.safu", backend="numpy").predict("turn on the bedroom lights").intent == "LightsOn"


def test_cli_train_predict_eval_inspect(tmp_path, capsys):
    from safu.runtime.cli import main

    data = tmp_path / "train.jsonl"
    with open(data, "w") as f:
        for ex in small_domain():
            slots = {s.name: ex.text[s.start:s.end] for s in ex.slots}
            f.write(json.dumps({"text": ex.text, "intent": ex.intent, "slots": slots}) + "\n")
    model = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(model), "--bigram-buckets", "64"]) == 0
    assert "trained" in capsys.readouterr().out
    assert main(["predict", str(model), "turn on the office lights", "--json", "--backend", "numpy"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intent"] == "LightsOn" and out["slots"] == {"area": "office"}
    assert main(["eval", str(model), str(data), "--json", "--backend", "numpy"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(small_domain()) and report["accuracy"] > 0.9 and report["slot_f1"] > 0.8
    assert main(["inspect", str(model)]) == 0
    assert "all checksums OK" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    from safu.runtime.cli import main

    bad = tmp_path / "bad.safu"
    bad.write_bytes(b"NOPE" + b"\0" * 60)
    assert main(["predict", str(bad), "hello"]) == 2
    err = capsys.readouterr().err
    assert "bad magic" in err and str(bad) in err and "Traceback" not in err


def test_explicit_none_class_rejects_out_of_domain_text(tmp_path):
    oos = ["tell me a joke", "who won the game", "how old are you", "sing a song", "i like trains",
           "what is the capital of france", "my back hurts", "the bus was late"]
    model = fit_intent_model(small_domain(), IntentConfig(bigram_buckets=64, none_class=True), out_of_scope=oos)
    assert "<none>" in model.intents
    model.save(tmp_path / "n.safu")
    m = load(tmp_path / "n.safu", backend="numpy")
    p = m.predict("tell me a joke please")
    assert p.intent is None and "<none>" in p.reason
    assert m.predict("turn off the kitchen lights").intent == "LightsOff"
    with pytest.raises(ValueError, match="reserved"):
        fit_intent_model([Example("x", "<none>", []), Example("y", "A", [])])


def test_stored_sentences_cover_small_intents():
    import numpy as np
    from types import SimpleNamespace
    from safu.models.intent_model import NONE_INTENT, stored_sentences
    big = [SimpleNamespace(text=f"turn on lamp {i}", intent="On") for i in range(500)]
    small = [SimpleNamespace(text=t, intent="Time") for t in ("what time is it", "what is the time")]
    oos = [SimpleNamespace(text="tell me a joke", intent=NONE_INTENT)]
    kept = stored_sentences(big + small + oos, 20, np.random.default_rng(0))
    assert len(kept) == 20 and len(set(kept)) == 20
    assert {"what time is it", "what is the time"} <= set(kept)  # a uniform sample would keep ~0 of them
    assert "tell me a joke" not in kept
    assert stored_sentences(big[:3], 20, np.random.default_rng(0)) == sorted(x.text for x in big[:3])


def test_transition_scores_take_the_label_prior_off_the_bigram_once():
    from safu.models import intent_model as im
    from safu.models.slot_decoding import legal_transitions
    from safu.models.slot_transitions import fit_slot_transitions

    examples = small_domain()
    labels = ["O"] + [f"{p}-{n}" for n in ("area", "duration") for p in ("B", "I")]
    prep = im.prepare(examples, {lab: i for i, lab in enumerate(labels)}, 48)
    plain = fit_slot_transitions(prep.label_sequences(), labels)
    table = im.slot_transition_scores(prep, labels)
    legal = legal_transitions(labels)
    assert table.dtype == np.float32 and table.shape == plain.shape
    assert np.array_equal(table[~legal], plain[~legal])   # forbidden stays forbidden
    shift = (table - plain)[legal.any(axis=0)[None, :] & legal]
    counts = np.bincount(prep.labels, minlength=len(labels))
    # a rarer next label gains more: B-duration (rarer than O) after O is raised against O after O
    assert (table[1, 3] - plain[1, 3]) > (table[1, 0] - plain[1, 0]) > 0 and counts[3] < counts[0]
    assert shift.size and np.all(np.isfinite(shift))
    expected = -im.TRANSITION_WEIGHT * im.TRANSITION_PRIOR * np.log((counts + im.TRANSITION_SMOOTHING)
                                                                      / (counts + im.TRANSITION_SMOOTHING).sum())
    np.testing.assert_allclose((table - plain)[1], np.where(legal[1], expected, 0.0), rtol=1e-5, atol=1e-5)


def test_discriminative_slot_layer_has_the_gradient_of_its_loss_and_lowers_it(monkeypatch):
    import scipy.optimize

    captured = {}
    real_minimize = scipy.optimize.minimize

    def recording_minimize(fun, x0, **kw):
        captured.setdefault("fun", fun)
        captured.setdefault("x0", np.array(x0))
        return real_minimize(fun, x0, **kw)

    monkeypatch.setattr(scipy.optimize, "minimize", recording_minimize)
    # the same room words in two slots of one intent: only the context tells them apart
    moves = [example("move the lamp from the {src} to the {dst}", "Move", src=(a, a), dst=(b, b))
             for a, b in itertools.permutations(AREAS, 2)]
    model = fit_intent_model(small_domain() + moves, IntentConfig(bigram_buckets=64, head="explicit", slot_iterations=8))
    report = model.stats["slot_head"]
    assert report["iterations"] >= 1 and report["loss"][1] < report["loss"][0]
    assert np.any(model.tensors["slot_b"] != 0)
    fun, x0 = captured["fun"], captured["x0"]
    rng = np.random.default_rng(0)
    x = x0 + 0.01 * rng.standard_normal(len(x0))
    loss, grad = fun(x)
    for i in rng.choice(len(x), 12, replace=False).tolist() + [len(x) - 1]:   # the last one: a bias
        e = np.zeros_like(x)
        e[i] = 1e-2
        numeric = (fun(x + e)[0] - fun(x - e)[0]) / 2e-2
        assert numeric == pytest.approx(grad[i], rel=0.05, abs=1e-5), i

    plain = fit_intent_model(small_domain(), IntentConfig(bigram_buckets=64, head="explicit", slot_iterations=0))
    assert plain.stats["slot_head"] == {} and not np.any(plain.tensors["slot_b"])
