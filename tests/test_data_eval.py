"""`safu eval`: --errors rows, macro-F1 over the labels that occur, the unknown-label warning, and
progress lines when stderr is not a terminal."""
import io
import json
import time

import pytest

from safu.runtime.api import load
from safu.runtime.cli import main
from safu.runtime.evaluate import evaluate
from safu.runtime.progress import Progress

ROOMS = ("kitchen", "hall", "attic", "garage", "porch")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    rows = []
    for r in ROOMS:
        rows += [{"text": f"turn on the {r} light", "intent": "LightOn", "slots": {"room": r}},
                 {"text": f"switch the {r} light on", "intent": "LightOn", "slots": {"room": r}},
                 {"text": f"turn off the {r} light", "intent": "LightOff", "slots": {"room": r}},
                 {"text": f"switch the {r} light off", "intent": "LightOff", "slots": {"room": r}},
                 {"text": f"how warm is the {r}", "intent": "Temperature", "slots": {"room": r}},
                 {"text": f"what is the temperature in the {r}", "intent": "Temperature", "slots": {"room": r}}]
    data = folder / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = folder / "m.safu"
    assert main(["train", str(data), "-o", str(out)]) == 0
    return out


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_errors_file_has_one_row_per_example(model_path, tmp_path, capsys):
    data = write(tmp_path / "test.jsonl", [
        {"text": "turn on the kitchen light", "intent": "LightOn", "slots": {"room": "kitchen"}},
        {"text": "turn off the attic light", "intent": "LightOff", "slots": {"room": "attic"}},
        {"text": "tell me a joke", "intent": None},
    ])
    rows_path = tmp_path / "rows.jsonl"
    capsys.readouterr()
    assert main(["eval", str(model_path), str(data), "--errors", str(rows_path)]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["turn on the kitchen light", "turn off the attic light", "tell me a joke"]
    for r in rows:
        assert set(r) >= {"text", "expected", "predicted", "best_intent", "confidence", "rejected", "correct",
                          "expected_slots", "predicted_slots", "slots_correct"}
        assert r["rejected"] == (r["predicted"] is None)
        assert 0.0 <= r["confidence"] <= 1.0
    assert rows[0]["expected"] == "LightOn" and rows[0]["expected_slots"] == {"room": "kitchen"}
    assert rows[2]["expected"] is None and rows[2]["expected_slots"] is None
    assert rows[0]["correct"] == (rows[0]["predicted"] == "LightOn")
    wrong = sum(not r["correct"] for r in rows)
    assert f"wrote {rows_path}: 3 examples, {wrong} with the wrong intent or acceptance" in out
    assert not list(tmp_path.glob("*.tmp"))


def test_macro_f1_is_over_the_labels_that_occur(model_path):
    model = load(model_path, backend="numpy")
    from safu.runtime.datasets import Example
    examples = [Example(f"turn on the {r} light", "LightOn") for r in ROOMS] + \
               [Example(f"turn off the {r} light", "LightOff") for r in ROOMS]
    report = evaluate(model, examples)
    assert report["macro_f1_labels"] == 2          # Temperature is not asked for: no zero added
    per_label = []
    for label in ("LightOn", "LightOff"):
        preds = [model.predict(e.text).intent for e in examples]
        tp = sum(p == e.intent == label for p, e in zip(preds, examples))
        fp = sum(p == label != e.intent for p, e in zip(preds, examples))
        fn = sum(e.intent == label != p for p, e in zip(preds, examples))
        per_label.append(2 * tp / (2 * tp + fp + fn))
    assert report["macro_f1"] == pytest.approx(sum(per_label) / 2)
    with_oos = evaluate(model, examples + [Example("tell me a joke", None)])
    assert with_oos["macro_f1_labels"] == 3 and with_oos["n_out_of_scope"] == 1


def test_labels_the_model_does_not_know_are_warned_about(model_path, tmp_path, capsys):
    data = write(tmp_path / "test.jsonl", [
        {"text": "turn on the kitchen light", "intent": "lighton"},
        {"text": "how warm is the hall", "intent": "GetTemperature"},
    ])
    capsys.readouterr()
    assert main(["eval", str(model_path), str(data), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["unknown_intents"] == {"lighton": 1, "GetTemperature": 1}
    assert report["n_out_of_scope"] == 2 and report["n_inscope"] == 0
    err = captured.err
    assert "warning: 2 of 2 examples have intents the model does not know" in err
    assert "no label of the data is one of the model's intents" in err
    assert "'lighton' -> 'LightOn'" in err and "LightOff, LightOn, Temperature" in err
    good = write(tmp_path / "good.jsonl", [{"text": "turn on the kitchen light", "intent": "LightOn"}])
    assert main(["eval", str(model_path), str(good)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_progress_prints_plain_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    with Progress(stream=stream, interval=0.05) as p:
        p.step("slot SAFU")
        time.sleep(0.3)
        for i in range(1, 4):
            p.count(i, 3, "evaluating")
        time.sleep(0.2)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and "\r" not in stream.getvalue() and "\033" not in stream.getvalue()
    assert lines[0].endswith("] slot SAFU") and lines[0].startswith("[")
    assert lines[-1].endswith("] evaluating 3/3")
    quiet = io.StringIO()
    with Progress(stream=quiet, interval=5.0) as p:     # a run shorter than the interval prints nothing
        p.step("tokenising")
    assert quiet.getvalue() == ""
    live = io.StringIO()
    with Progress(stream=live, live=True) as p:
        p.step("tokenising")
    assert live.getvalue().startswith("\r\033[K[") and "tokenising" in live.getvalue()
    off = io.StringIO()
    with Progress(stream=off, enabled=False, interval=0.01) as p:
        p.step("tokenising")
        time.sleep(0.05)
    assert off.getvalue() == ""
