"""bench/bench_intents.py --seeds: the safu columns trained once per seed, each figure the mean over the
seeds with its lowest and highest; --errors writes evaluate's per-example records of every run."""
import json
from pathlib import Path

import pytest

from bench_support import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_intents")


def test_mean_over_seeds_gives_the_mean_and_the_range(bench):
    runs = [{"top1": 0.98, "slot_f1": None, "size_kib": 10.0},
            {"top1": 0.99, "slot_f1": None, "size_kib": 12.0},
            {"top1": 0.97, "slot_f1": None, "size_kib": 11.0}]
    out = bench.mean_over_seeds(runs)
    assert out["top1"] == pytest.approx(0.98)
    assert out["size_kib"] == pytest.approx(11.0)
    assert out["slot_f1"] is None
    assert out["range"] == {"top1": (0.97, 0.99), "size_kib": (10.0, 12.0)}
    assert "range" not in bench.mean_over_seeds(runs[:1])   # one seed: the figures as they are
    assert bench.mean_over_seeds(runs[:1])["top1"] == 0.98


def test_mean_over_seeds_refuses_a_metric_some_runs_lack(bench):
    with pytest.raises(ValueError, match="'top1' has a value in only 1 of 2 runs"):
        bench.mean_over_seeds([{"top1": 0.9}, {"top1": None}])
    with pytest.raises(ValueError, match="no runs"):
        bench.mean_over_seeds([])


def test_cell_shows_the_range_of_accuracies_only(bench):
    cell = {"top1": 0.98, "train_cpu_s": 5.0, "range": {"top1": (0.97, 0.99), "train_cpu_s": (4.0, 6.0)}}
    assert bench._cell(cell, "top1", "{:.4f}") == "0.9800 (0.9700-0.9900)"
    assert bench._cell(cell, "train_cpu_s", "{:.1f}") == "5.0"
    assert bench._cell(cell, "slot_f1", "{:.4f}") == "-"
    same = {"top1": 1.0, "range": {"top1": (1.0, 1.0)}}
    assert bench._cell(same, "top1", "{:.4f}") == "1.0000"   # every seed the same: no brackets


INTENTS = {
    "lights_on": ["turn on the lights", "switch the lights on", "lights on please", "put the lights on",
                  "lights on in here", "i want the lights on"],
    "lights_off": ["turn off the lights", "switch the lights off", "lights off please", "kill the lights",
                   "lights off now", "i want the lights off"],
    "weather": ["what is the weather", "will it rain today", "how hot is it outside", "weather forecast please",
                "is it sunny", "what's the forecast"],
}


def tiny_clinc(data: Path) -> Path:
    folder = data / "clinc150"
    folder.mkdir(parents=True)
    rows = [{"text": t, "intent": i} for i, texts in INTENTS.items() for t in texts * 2]
    rows += [{"text": "tell me a joke", "intent": None}, {"text": "who won the game", "intent": None}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    val = [{"text": "lights on", "intent": "lights_on"}, {"text": "is it raining", "intent": "weather"},
           {"text": "lights off", "intent": "lights_off"}, {"text": "sing a song", "intent": None}]
    (folder / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val), encoding="utf-8")
    return data


def test_seeds_train_once_each_and_report_the_mean(bench, tmp_path, capsys):
    data = tiny_clinc(tmp_path / "data")
    out, errors = tmp_path / "figures.json", tmp_path / "errors"
    argv = ["--data", str(data), "--rows", "clinc", "--columns", "safu", "--seeds", "0", "1",
            "--json", str(out), "--errors", str(errors)]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "mean over seeds 0, 1" in table
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["seeds"] == [0, 1]
    runs = figures["per_seed"]["clinc"]["safu"]
    assert sorted(runs) == ["0", "1"]
    mean = figures["results"]["clinc"]["safu"]
    for key in ("top1", "accuracy", "train_cpu_s", "size_kib"):
        assert mean[key] == pytest.approx((runs["0"][key] + runs["1"][key]) / 2)
    low, high = mean["range"]["top1"]
    assert low == min(runs["0"]["top1"], runs["1"]["top1"]) and high == max(runs["0"]["top1"], runs["1"]["top1"])
    for seed in (0, 1):
        lines = (errors / f"clinc-safu-seed{seed}.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["text"] for r in records] == ["lights on", "is it raining", "lights off", "sing a song"]
        assert {"expected", "predicted", "best_intent", "confidence", "rejected", "correct"} <= set(records[0])


def test_seeds_and_set_seed_together_are_refused(bench, tmp_path, capsys):
    data = tiny_clinc(tmp_path / "data")
    code = bench.main(["--data", str(data), "--rows", "clinc", "--columns", "safu", "--seeds", "0", "1",
                       "--set", "seed=3"])
    assert code == 2
    assert "either with --seeds or with --set seed=S" in capsys.readouterr().err
