"""`safu bench` on public data sets: the public API, the binding and the core side by side with
fastText (when installed), and both load times. Figures are printed, never asserted; here a tiny
CLINC150-shaped folder checks the rows, the ratios and the errors."""
import json

import pytest

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

from safu.runtime.cli import main  # noqa: E402

INTENTS = {
    "lights_on": ["turn on the lights", "switch the lights on", "lights on please", "put the lights on"],
    "lights_off": ["turn off the lights", "switch the lights off", "lights off please", "kill the lights"],
    "weather": ["what is the weather", "will it rain today", "how hot is it outside", "weather forecast please"],
}


def tiny_clinc(folder):
    folder.mkdir()
    rows = [{"text": t, "intent": i} for i, texts in INTENTS.items() for t in texts * 3]
    rows += [{"text": "tell me a joke", "intent": None}, {"text": "who won the game", "intent": None}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    val = [{"text": "lights on", "intent": "lights_on"}, {"text": "is it raining", "intent": "weather"},
           {"text": "sing a song", "intent": None}]
    (folder / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val), encoding="utf-8")
    return folder


def test_bench_times_the_api_binding_core_and_fasttext_on_a_data_set(tmp_path, capsys):
    data = tiny_clinc(tmp_path / "clinc150")
    cache = tmp_path / "models"
    argv = ["bench", "--no-stream", "--no-memory", "--clinc150", str(data), "--cache", str(cache), "--format", "json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["load"][0]["call"] == "safu.load(p)" and result["load"][0]["ms"] > 0
    assert "public API" in [r["backend"] for r in result["intent"]]
    (d,) = result["datasets"]
    assert d["name"] == "CLINC150" and d["test_sentences"] == 3
    rows = {r["backend"]: r for r in d["intent"]}
    assert rows["C++ core"]["x_core"] == 1.0
    assert rows["public API"]["what"] == "safu.load(p).predict(text)" and rows["public API"]["us"] > 0
    assert rows["C++ core via Python"]["us"] > 0
    try:
        import fasttext  # noqa: F401
    except ImportError:
        assert rows["fastText"]["us"] is None and "not installed" in rows["fastText"]["what"]
    else:
        assert rows["fastText"]["x_fasttext"] == 1.0 and (cache / "clinc150.fasttext.bin").exists()
        assert [r["call"] for r in d["load"]] == ["safu.load(p)", "fasttext.load_model(p)"]
    assert (cache / "clinc150.safu").exists()
    # The markdown tables carry the same rows; the cached models are reused (nothing trained again).
    assert main(argv[:-2]) == 0
    captured = capsys.readouterr()
    assert "| public API | safu.load(p).predict(text) |" in captured.out and "CLINC150 (3 test sentences" in captured.out
    assert "training" not in captured.err


def test_bench_names_a_folder_that_is_not_the_data_set(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["bench", "--no-stream", "--no-memory", "--clinc150", str(tmp_path / "empty")]) == 2
    assert f"--clinc150 {tmp_path / 'empty'}: no train.jsonl" in capsys.readouterr().err
    assert main(["bench", "--no-stream", "--no-memory", "--snips", str(tmp_path / "empty")]) == 2
    assert "SNIPS" in capsys.readouterr().err
