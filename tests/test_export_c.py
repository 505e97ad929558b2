"""C export: the generated project builds for the host and for emulated boards (Cortex-M4F/M7/M3
under qemu-system-arm, aarch64/armhf Linux under qemu-user); every board prints exactly the host's
bytes (probabilities as float bits, -ffp-contract=off), and the host agrees with the numpy
reference within C_TOLERANCE with the same argmax. Boards whose toolchain is missing are skipped
with the missing program named."""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from export_helpers import TINY_UTTERANCES, spec_forward, write_tiny_intent_model  # noqa: E402

from safu.export import c_build  # noqa: E402
from safu.export.c_export import export_c  # noqa: E402
from safu.export.intent_tensors import IntentSpecError, load_intent_tensors  # noqa: E402
from safu.export.model_file import read_model_file, write_model_file  # noqa: E402
from safu.export.quantize import quantize_model_tensors  # noqa: E402
from safu.models.reference import IntentReference  # noqa: E402
from safu.models.tokenizer import Vocabulary  # noqa: E402

# float32 forward in a different summation order and with our own exp/log: a few ULP of 1.0.
C_TOLERANCE = 1e-5


def parse_output(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines and lines[-1].startswith("done n="), f"no 'done' line in output: {text[-500:]!r}"
    return [json.loads(line) for line in lines[:-1]]


def hex_floats(s: str) -> np.ndarray:
    return np.array([struct.unpack("<I", bytes.fromhex(h)[::-1])[0] for h in s.split()],
                    dtype=np.uint32).view(np.float32)


def require(target: str) -> None:
    missing = c_build.missing_tools(target)
    if missing:
        pytest.skip(f"{target}: missing {', '.join(missing)} (see .ci/apt/deploy.txt)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A hand-made model, its C export and the host build's output on the tiny utterances."""
    require("host")
    root = tmp_path_factory.mktemp("c_export")
    model = write_tiny_intent_model(root / "tiny.safu", seed=3)
    export_c(model, root / "c", utterances=TINY_UTTERANCES)
    build = c_build.build(root / "c", root / "build-host", "host", expected_output=None)
    out = c_build.run_program(build, "host")
    (root / "host.txt").write_text(out)
    return {"root": root, "model": model, "build": build, "out": out}


def compare_with_reference(model_path, results) -> float:
    mf = read_model_file(model_path)
    ref, vocab = IntentReference(mf), Vocabulary.from_metadata(mf.metadata)
    spec = load_intent_tensors(model_path)
    worst = 0.0
    for r in results:
        ids, _ = vocab.encode(r["text"], int(mf.metadata["tokenizer.max_tokens"]))
        p_intent, p_slot = ref.forward(ids)
        c_intent = hex_floats(r["p_intent"])
        c_slot = hex_floats(r["p_slot"]).reshape(p_slot.shape)
        diff = max(float(np.abs(c_intent - p_intent).max()),
                   float(np.abs(c_slot - p_slot).max()) if p_slot.size else 0.0)
        worst = max(worst, diff)
        assert diff < C_TOLERANCE, f"{r['text']!r}: C vs numpy max |diff| {diff:.3g}"
        assert np.argmax(c_intent) == np.argmax(p_intent)
        if p_slot.size:
            assert (np.argmax(c_slot, axis=1) == np.argmax(p_slot, axis=1)).all()
        # and the reference itself against the spec written out densely in float64
        s_intent, s_slot = spec_forward(spec, ids)
        assert np.abs(s_intent - p_intent).max() < C_TOLERANCE
    return worst


def test_host_matches_numpy_reference(tiny):
    results = parse_output(tiny["out"])
    assert [r["text"] for r in results] == TINY_UTTERANCES
    worst = compare_with_reference(tiny["model"], results)
    print(f"C host vs numpy reference: max |diff| = {worst:.3g} over {len(results)} utterances")


def test_host_decoding_matches_python_api(tiny):
    from safu.runtime.api import load

    model = load(tiny["model"], backend="numpy")
    for r in parse_output(tiny["out"]):
        pred = model.predict(r["text"])
        assert r["intent"] == pred.intent, r["text"]
        assert r["slots"] == pred.slots, r["text"]


def test_host_stdin_tokenizer_matches_python(tiny):
    """Random text with the tokenizer's edge cases: capitals, apostrophes, numbers with . and ,,
    punctuation, non-ASCII; the C host reads it from stdin and must agree with the Python side."""
    from safu.runtime.api import load

    rng = np.random.default_rng(7)
    pieces = ["Turn", "ON", "the", "kitchen", "lights", "don't", "it's", "'quoted'", "21.5", "1,000",
              "1.", ",5", "a.b", "café", "naïve", "ÜBER", "x'", "'", "...", "!", "?", "  ", "-", "3,5,7",
              "tv's", "FAN", "lamp,", "LAMPS", "televisions", "room.", "2'3", "\t"]
    lines = [" ".join(rng.choice(pieces, size=int(rng.integers(0, 18)))) for _ in range(60)]
    out = c_build.run_program(tiny["build"], "host", stdin="\n".join(lines) + "\n", args=["-"])
    results = [json.loads(x) for x in out.splitlines()]
    assert len(results) == len(lines)
    model = load(tiny["model"], backend="numpy")
    worst = compare_with_reference(tiny["model"], results)
    for line, r in zip(lines, results):
        pred = model.predict(line)
        assert (r["intent"], r["slots"]) == (pred.intent, pred.slots), line
    print(f"C host (stdin) vs numpy reference: max |diff| = {worst:.3g} over {len(lines)} lines")


@pytest.mark.parametrize("target", ["m4", "m7", "m3", "aarch64", "armhf"])
def test_board_output_equals_host_bit_for_bit(tiny, target):
    require(target)
    build = c_build.build(tiny["root"] / "c", tiny["root"] / f"build-{target}", target,
                          expected_output=tiny["root"] / "host.txt")
    log = c_build.ctest(build)   # safu_mcu_utterances, safu_mcu_matches_host (+ _uart_ on Cortex-M)
    bare = c_build.TARGETS[target].bare_metal
    assert "100% tests passed" in log and f"out of {3 if bare else 2}" in log, log
    assert (build / "safu_mcu_output.txt").read_text() == tiny["out"]
    if bare:   # the same utterances typed into UART0 give the same bytes
        assert (build / "safu_mcu_uart_output.txt").read_text() == tiny["out"]


def test_int8_export_matches_quantised_reference(tiny):
    """--int8: the host build of the int8 C equals the numpy reference run on the same int8 weights."""
    root = tiny["root"]
    mf = read_model_file(tiny["model"])
    q_model = root / "tiny_int8.safu"
    write_model_file(q_model, mf.metadata, quantize_model_tensors(mf.tensors))
    export_c(tiny["model"], root / "c8", int8=True, utterances=TINY_UTTERANCES)
    assert "const int8_t safu_slot_U[" in (root / "c8" / "safu_model.c").read_text()
    build = c_build.build(root / "c8", root / "build8-host", "host")
    results = parse_output(c_build.run_program(build, "host"))
    worst = compare_with_reference(q_model, results)
    print(f"int8 C host vs int8 numpy reference: max |diff| = {worst:.3g}")


def test_m4_int8_equals_host_int8(tiny):
    require("m4")
    root = tiny["root"]
    if not (root / "c8").exists():
        export_c(tiny["model"], root / "c8", int8=True, utterances=TINY_UTTERANCES)
    host = c_build.build(root / "c8", root / "build8-host2", "host")
    (root / "host8.txt").write_text(c_build.run_program(host, "host"))
    build = c_build.build(root / "c8", root / "build8-m4", "m4", expected_output=root / "host8.txt")
    c_build.ctest(build)


def test_utterance_with_line_break_is_rejected(tmp_path):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    with pytest.raises(ValueError, match="utterance 2"):
        export_c(model, tmp_path / "out", utterances=["turn on", "two\nlines"])


def test_wrong_kind_is_rejected_naming_the_field(tmp_path):
    from export_helpers import tiny_intent_model

    md, ts = tiny_intent_model()
    md["general.kind"] = "lm"
    write_model_file(tmp_path / "lm.safu", md, ts)
    with pytest.raises(IntentSpecError, match="general.kind"):
        export_c(tmp_path / "lm.safu", tmp_path / "out")
    md["general.kind"] = "intent"
    ts["slot_U"] = ts["slot_U"][:-1]
    write_model_file(tmp_path / "bad.safu", md, ts)
    with pytest.raises(IntentSpecError, match="slot_U"):
        export_c(tmp_path / "bad.safu", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_host_matches_cpp_core(tiny):
    core = pytest.importorskip("safu._core", reason="C++ core (safu._core) not built in this install")
    cpp = core.IntentModel(str(tiny["model"]))
    mf = read_model_file(tiny["model"])
    vocab = Vocabulary.from_metadata(mf.metadata)
    worst = 0.0
    for r in parse_output(tiny["out"]):
        ids, _ = vocab.encode(r["text"], int(mf.metadata["tokenizer.max_tokens"]))
        k_intent, k_slot = (np.asarray(x) for x in cpp.forward(ids))
        c_intent, c_slot = hex_floats(r["p_intent"]), hex_floats(r["p_slot"]).reshape(k_slot.shape)
        d = max(float(np.abs(c_intent - k_intent).max()), float(np.abs(c_slot - k_slot).max()) if k_slot.size else 0.0)
        assert d < C_TOLERANCE, r["text"]
        worst = max(worst, d)
    print(f"C host vs C++ core: max |diff| = {worst:.3g}")


def test_builtin_model_decisions_match_python_api(tmp_path):
    """The shipped smart-home model (with slot_allowed: intent-conditioned slot decoding) exported
    to C gives the Python API's intent and slots."""
    from safu.runtime.api import DEFAULT_MODEL, load

    require("host")
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"built-in model not in this checkout: {DEFAULT_MODEL}")
    export_c(DEFAULT_MODEL, tmp_path / "c")
    build = c_build.build(tmp_path / "c", tmp_path / "build", "host")
    lines = ["turn on the kitchen lights", "set the bedroom temperature to 21 degrees", "what time is it",
             "set a timer for 5 minutes", "play the beatles in the garden", "tell me a joke about cats"]
    out = c_build.run_program(build, "host", stdin="\n".join(lines) + "\n", args=["-"])
    model = load(DEFAULT_MODEL, backend="numpy")
    for text, line in zip(lines, out.splitlines()):
        r, p = json.loads(line), model.predict(text)
        assert (r["intent"], r["slots"]) == (p.intent, p.slots), text
