"""Bounded fuzzing of the model loader through the binding (atheris), and every saved input in
tests/fuzz_corpus/ (seeds and past crashers) loads or is rejected with FormatError/ShapeError."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fuzz_corpus"


def _inputs():
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and not p.name.startswith("README"))


def test_corpus_is_present():
    assert len(_inputs()) >= 2


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: p.name)
def test_saved_inputs_are_handled(path):
    sys.path.insert(0, str(HERE / "fuzz"))
    try:
        pytest.importorskip("atheris", reason="atheris is not installed (pip install '.[test]')")
        import fuzz_model_loader
    finally:
        sys.path.pop(0)
    fuzz_model_loader.test_one_input(path.read_bytes())  # raises on anything but the allowed errors


def test_bounded_fuzz_run(tmp_path):
    pytest.importorskip("atheris", reason="atheris is not installed (pip install '.[test]')")
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    run = subprocess.run([sys.executable, str(HERE / "fuzz" / "fuzz_model_loader.py"), str(work), "-runs=30000",
                          "-seed=1", "-max_len=8192", f"-artifact_prefix={tmp_path}/crash-"],
                         capture_output=True, text=True, timeout=600)
    crashes = list(tmp_path.glob("crash-*"))
    assert run.returncode == 0 and not crashes, (
        f"fuzzer found {len(crashes)} crashing input(s) in {tmp_path}; copy them to tests/fuzz_corpus/\n"
        + run.stderr[-4000:])
    assert "Done 30000 runs" in run.stderr


def test_bounded_metadata_fuzz_run_both_backends():
    """Files with valid CRCs and bad metadata (tests/fuzz/fuzz_metadata.py): the numpy backend and the
    core refuse each with the same message or both load it and agree; 0 crashes, 0 hangs."""
    run = subprocess.run([sys.executable, str(HERE / "fuzz" / "fuzz_metadata.py"), "--cases", "1500", "--seed", "1",
                          "--case-seconds", "10"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    summary = run.stdout.strip().splitlines()[-1]
    print(summary)
    assert "failures 0" in summary and "cases 1500" in summary
    loaded = int(summary.split("both loaded and agreed ")[1].split()[0].rstrip(","))
    refused = int(summary.split("both refused with the same message ")[1].split()[0])
    assert loaded >= 50 and refused >= 500   # the run reaches both the forward pass and the checks
