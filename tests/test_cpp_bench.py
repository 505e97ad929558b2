"""The benchmark code runs and prints its tables (figures are printed by `safu bench`, never asserted)."""
import pytest

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

from cpp_model_fixtures import train_tiny_intent_model, write_random_lm_model  # noqa: E402


def test_bench_tables_on_tiny_models(tmp_path, capsys):
    from safu.runtime import bench_core
    model = train_tiny_intent_model(tmp_path / "tiny.safu")
    intent = bench_core.intent_latency(model, repeats=1)
    backends = [r["backend"] for r in intent]
    assert backends[:2] == ["C++ core", "C++ core via Python"] and "numpy reference" in backends
    assert all(r["us"] is None or r["us"] > 0 for r in intent)
    lm = write_random_lm_model(tmp_path / "lm.safu")
    stream = bench_core.streaming(lm, lengths=(16, 64), repeats=1)
    assert [r["length"] for r in stream] == [16, 64] and stream[0]["core_vs_16"] == 1.0
    result = {"model": str(model), "vocab": 1, "intents": 1, "slot_labels": 1, "dim": 1, "intent": intent,
              "lm_vocab": 36, "stream": stream}
    text = bench_core.markdown(result)
    assert "| C++ core | predict(text), timed in C++ |" in text and "| 64 |" in text


def test_bench_is_a_cli_subcommand():
    from safu.runtime.cli import build_parser
    args = build_parser().parse_args(["bench", "--model", "m.safu", "--no-stream", "--format", "json"])
    assert args.model == "m.safu" and args.no_stream and args.format == "json"
