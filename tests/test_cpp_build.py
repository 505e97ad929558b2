"""Builds the C++ core standalone (plain CMake, no Python) with AddressSanitizer + UBSan, runs its
ctest suite (reader, tokenizer, intent, streaming LM, mutation fuzzing, saved fuzz corpus) and
checks the safu-run tool against the Python binding. Slow (~1 min); CI reaches it via pytest."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def asan_build(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    if shutil.which("c++") is None and shutil.which("g++") is None and shutil.which("clang++") is None:
        pytest.skip("no C++ compiler")
    build = tmp_path_factory.mktemp("cpp-asan")
    cfg = subprocess.run(["cmake", "-S", str(REPO / "cpp"), "-B", str(build), "-DSAFU_SANITIZE=ON",
                          "-DCMAKE_BUILD_TYPE=Debug"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    make = subprocess.run(["cmake", "--build", str(build), "-j", "2"], capture_output=True, text=True)
    assert make.returncode == 0, make.stdout[-4000:] + make.stderr[-4000:]
    return build


def test_ctest_passes_under_asan_and_ubsan(asan_build):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run(["ctest", "--test-dir", str(asan_build), "--output-on-failure"], capture_output=True,
                         text=True, env=env, timeout=600)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "100% tests passed" in run.stdout
    assert "mutations" in run.stdout and "fuzz_corpus" in run.stdout


def test_safu_run_matches_the_binding(asan_build, tmp_path):
    core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")
    from cpp_model_fixtures import train_tiny_intent_model
    model = train_tiny_intent_model(tmp_path / "tiny.safu")
    lines = ["turn on the kitchen lights", "set the bedroom to 19.5 degrees", "", "Café \"quoted\" \\ text",
             "what is the temperature in the garage"]
    run = subprocess.run([str(asan_build / "safu-run"), str(model)], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == len(lines)
    cc = core.IntentModel(str(model))
    for text, got in zip(lines, out):
        want = cc.predict(text)
        assert got["intent"] == want["intent"] and got["slots"] == want["slots"]
        assert abs(got["confidence"] - want["confidence"]) < 1e-5
        data = text.encode()
        assert [data[s["start"]:s["end"]].decode() for s in got["spans"]] == [s["text"] for s in want["spans"]]


def test_safu_run_errors(asan_build, tmp_path):
    bad = tmp_path / "bad.safu"
    bad.write_bytes(b"GGUF" + bytes(60))
    run = subprocess.run([str(asan_build / "safu-run"), str(bad)], input="hi\n", capture_output=True, text=True)
    assert run.returncode == 1 and "bad magic" in run.stderr and str(bad) in run.stderr
    run = subprocess.run([str(asan_build / "safu-run")], capture_output=True, text=True)
    assert run.returncode == 2 and "usage: safu-run" in run.stderr
