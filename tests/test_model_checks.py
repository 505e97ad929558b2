"""One table of bad intent-model files (tests/model_check_cases.py), each with valid CRCs: every
reader refuses each one with the same words: the numpy backend, the Python API on both backends,
the exporters, `safu inspect`, and the C++ core."""
import json
import resource
from pathlib import Path

import numpy as np
import pytest

from model_check_cases import CASES
from safu.export.intent_check import IntentModelError, check_intent_model
from safu.export.intent_tensors import load_intent_tensors
from safu.export.model_file import ModelFormatError, read_model_file
from safu.models.reference import IntentReference
from safu.runtime.api import IntentModel
from safu.runtime.cli import main

try:
    from safu import _core
except ImportError:  # the table is still checked against the numpy side
    _core = None

IDS = [c.name for c in CASES]


def test_case_names_are_unique():
    assert len(IDS) == len(set(IDS)) and len(CASES) >= 50


def test_the_base_file_loads_everywhere(tmp_path):
    from cpp_model_fixtures import write_random_intent_model

    path = str(write_random_intent_model(tmp_path / "good.safu"))
    layout = check_intent_model(read_model_file(path))
    assert (len(layout.vocab), layout.dim, layout.radius, layout.buckets) == (36, 8, 2, 16)
    p = IntentModel(path, backend="numpy").predict("turn on the kitchen lights")
    assert np.isfinite(p.confidence)
    if _core is not None:
        assert IntentModel(path, backend="core").predict("turn on the kitchen lights").intent == p.intent
    assert main(["inspect", path]) == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numpy_side_refuses_with_the_core_words(tmp_path, case):
    path = str(case.write(tmp_path / f"{case.name}.safu"))
    expected = f"{path}: {case.message}"
    mf = read_model_file(path)           # the container is sound: CRCs valid
    for load in (lambda: IntentReference(mf),
                 lambda: IntentModel(path, backend="numpy"),
                 lambda: load_intent_tensors(path)):   # what the ONNX and C exporters read
        with pytest.raises(IntentModelError) as err:
            load()
        assert str(err.value) == expected
        assert isinstance(err.value, ModelFormatError) and isinstance(err.value, ValueError)


@pytest.mark.skipif(_core is None, reason="the C++ core is not built (pip install .)")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_core_refuses_with_the_same_words(tmp_path, case):
    path = str(case.write(tmp_path / f"{case.name}.safu"))
    with pytest.raises(getattr(_core, case.core_error)) as err:
        _core.IntentModel(path)
    assert str(err.value) == f"{path}: {case.message}"
    with pytest.raises(ValueError) as err:   # the API with the core backend
        IntentModel(path, backend="core")
    assert str(err.value) == f"{path}: {case.message}"
    with pytest.raises(getattr(_core, case.core_error)) as err:
        _core.IntentModel.from_bytes(Path(path).read_bytes())
    assert str(err.value) == f"<bytes>: {case.message}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inspect_reports_the_check(tmp_path, capsys, case):
    path = str(case.write(tmp_path / f"{case.name}.safu"))
    assert main(["inspect", path]) == 1
    out = capsys.readouterr().out
    assert "all checksums OK" in out
    if case.name == "kind_lm":   # inspect checks it as an lm file, which it is not either
        assert f"model check: FAILED: {path}: missing metadata key" in out
        return
    assert f"model check: FAILED: {path}: {case.message}" in out
    assert main(["inspect", path, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)   # valid JSON even with a NaN threshold
    assert report["check"] == {"ok": False, "summary": None, "error": f"{path}: {case.message}"}


def test_inspect_reports_a_good_file(tmp_path, capsys):
    from cpp_model_fixtures import write_random_intent_model

    path = str(write_random_intent_model(tmp_path / "q.safu", quantise=True))
    assert main(["inspect", path, "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["check"]
    assert check["ok"] and "all weights finite" in check["summary"]


def test_exporters_refuse_before_writing(tmp_path):
    from safu.export.c_export import export_c
    from safu.export.onnx_export import export_onnx

    case = next(c for c in CASES if c.name == "slot_b_nan")
    path = str(case.write(tmp_path / "bad.safu"))
    with pytest.raises(IntentModelError, match="non-finite"):
        export_onnx(path, tmp_path / "bad.onnx")
    with pytest.raises(IntentModelError, match="non-finite"):
        export_c(path, tmp_path / "c")
    assert main(["export", path, "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.safu"]


def test_nan_threshold_no_longer_gives_invalid_json(tmp_path, capsys):
    """The issue's report: NaN weights answered `confidence: NaN` in invalid JSON on the numpy backend."""
    case = next(c for c in CASES if c.name == "threshold_nan")
    path = str(case.write(tmp_path / "nan.safu"))
    assert main(["predict", path, "turn on the light", "--json", "--backend", "numpy"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "intent.threshold is NaN" in captured.err


def test_huge_metadata_is_refused_without_time_or_memory(tmp_path):
    """slot.radius = 2^32-1 used to hang and grow memory, a huge bucket count tried 16 GiB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name in ("radius_2_32_minus_1", "buckets_huge", "max_tokens_huge", "dim_huge"):
        case = next(c for c in CASES if c.name == name)
        path = str(case.write(tmp_path / f"{name}.safu"))
        with pytest.raises(IntentModelError):
            IntentModel(path, backend="numpy")
    # (a hang never reaches the raise; time is measured in tests/fuzz/fuzz_metadata.py, not asserted)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_inspect_checks_lm_files_too(tmp_path, capsys):
    from cpp_model_fixtures import random_lm_tensors
    from safu.export.model_file import write_model_file

    meta, tensors = random_lm_tensors(0)
    write_model_file(tmp_path / "lm.safu", meta, tensors)
    assert main(["inspect", str(tmp_path / "lm.safu")]) == 0
    assert "model check: OK (lm model" in capsys.readouterr().out
    tensors["final.b"][3] = np.inf
    write_model_file(tmp_path / "lm_inf.safu", meta, tensors)
    assert main(["inspect", str(tmp_path / "lm_inf.safu")]) == 1
    message = f"{tmp_path / 'lm_inf.safu'}: tensor 'final.b' has a non-finite value (inf) at flat index 3, " \
              f"expected finite weights"
    assert f"model check: FAILED: {message}" in capsys.readouterr().out
    if _core is not None:   # the core refuses it in the same words
        with pytest.raises(_core.FormatError, match=r"final.b' has a non-finite value \(inf\) at flat index 3"):
            _core.LmModel(str(tmp_path / "lm_inf.safu"))
