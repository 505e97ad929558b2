"""Nothing is lost by a write: `safu export --c` refuses a non-empty directory without --force, an
output that is the input model is refused, every written file has the umask's mode (not 0600), and a
failed write leaves the old file whole and no temp file behind."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from export_helpers import write_tiny_intent_model  # noqa: E402

from safu.export.c_export import export_c  # noqa: E402
from safu.export.model_file import current_umask, read_model_file, write_file_atomic, write_model_file  # noqa: E402
from safu.runtime.cli import main  # noqa: E402


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_c_export_refuses_a_non_empty_directory(tmp_path, capsys):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    project = tmp_path / "mcu"
    project.mkdir()
    (project / "main.c").write_text("int main(void) { return 0; }  /* the user's own work */\n")
    assert main(["export", str(model), "--c", str(project)]) == 2
    err = capsys.readouterr().err
    assert f"{project}: the export directory is not empty (1 entries, e.g. 'main.c')" in err and "--force" in err
    assert sorted(p.name for p in project.iterdir()) == ["main.c"]
    assert "the user's own work" in (project / "main.c").read_text()
    with pytest.raises(FileExistsError, match="not empty"):
        export_c(model, project)


def test_c_export_refusal_comes_before_any_other_output(tmp_path, capsys):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    (tmp_path / "mcu").mkdir()
    (tmp_path / "mcu" / "notes.txt").write_text("keep")
    assert main(["export", str(model), "--onnx", str(tmp_path / "m.onnx"), "--c", str(tmp_path / "mcu")]) == 2
    assert not (tmp_path / "m.onnx").exists()


def test_c_export_force_overwrites_and_empty_or_new_directories_are_fine(tmp_path):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    (tmp_path / "empty").mkdir()
    assert main(["export", str(model), "--c", str(tmp_path / "empty")]) == 0
    assert main(["export", str(model), "--c", str(tmp_path / "new" / "deeper")]) == 0
    assert (tmp_path / "new" / "deeper" / "safu_model.c").exists()
    (tmp_path / "empty" / "safu_model.c").write_text("stale")
    assert main(["export", str(model), "--c", str(tmp_path / "empty"), "--force"]) == 0
    assert "safu_intent_threshold" in (tmp_path / "empty" / "safu_model.c").read_text()
    assert not [p for p in (tmp_path / "empty").rglob("*.tmp")]


def test_c_export_into_a_file_is_refused(tmp_path):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="afile: not a directory"):
        export_c(model, tmp_path / "afile", force=True)


def test_export_output_that_is_the_input_is_refused(tmp_path, capsys):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    before = model.read_bytes()
    assert main(["export", str(model), "--int8", "--safu", str(model)]) == 2
    assert "is the input model" in capsys.readouterr().err
    assert main(["export", str(model), "--onnx", str(tmp_path / "." / "m.safu")]) == 2
    assert model.read_bytes() == before


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, umask, mask):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    umask(mask)
    assert current_umask() == mask
    want = 0o666 & ~mask
    write_model_file(tmp_path / "w.safu", {"k": "v"}, {"t": np.ones(2, np.float32)})
    assert oct(mode(tmp_path / "w.safu")) == oct(want)
    assert main(["export", str(model), "--onnx", str(tmp_path / "m.onnx"), "--int8",
                 "--safu", str(tmp_path / "q.safu"), "--c", str(tmp_path / "c")]) == 0
    for path in [tmp_path / "m.onnx", tmp_path / "q.safu", *(p for p in (tmp_path / "c").rglob("*") if p.is_file())]:
        assert oct(mode(path)) == oct(want), path
    write_model_file(tmp_path / "w.safu", {"k": "again"}, {})   # replacing keeps the umask's mode too
    assert oct(mode(tmp_path / "w.safu")) == oct(want)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "m.safu"
    write_model_file(path, {"k": "v"}, {"t": np.ones(3, np.float32)})
    with pytest.raises(TypeError):
        write_file_atomic(path, object())   # fails inside the write, after the temp file exists
    with pytest.raises(TypeError):
        write_model_file(path, {"k": object()}, {})   # fails while encoding
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safu"]
    assert read_model_file(path).metadata == {"k": "v"}


def test_a_failed_write_into_a_missing_folder_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_model_file(tmp_path / "nope" / "m.safu", {"k": "v"}, {})
    assert list(tmp_path.iterdir()) == []
