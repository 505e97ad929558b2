"""`safu export` command line: writes ONNX, C project and int8 model files; clear errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from export_helpers import write_tiny_intent_model  # noqa: E402

from safu.runtime import cli_export  # noqa: E402


def run_cli(argv: list[str]) -> int:
    """The `safu export` subcommand through the real CLI when every module imports, else alone."""
    from safu.runtime import cli

    try:
        return cli.main(argv)
    except ModuleNotFoundError:      # another area's CLI module not merged yet
        parser = argparse.ArgumentParser(prog="safu")
        cli_export.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(argv)
        try:
            return args.func(args)
        except (cli.UserError, ValueError, OSError) as exc:
            print(f"safu {args.command}: error: {exc}", file=sys.stderr)
            return 2


def test_export_writes_onnx_c_and_int8_model(tmp_path, capsys):
    from safu.export.model_file import read_model_file

    model = write_tiny_intent_model(tmp_path / "m.safu")
    (tmp_path / "u.txt").write_text("turn on the lamp\n\nopen the door\n")
    rc = run_cli(["export", str(model), "--onnx", str(tmp_path / "m.onnx"), "--c", str(tmp_path / "c"),
                  "--utterances", str(tmp_path / "u.txt"), "--int8", "--safu", str(tmp_path / "q.safu")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "m.onnx" in out and "toolchains/arm-none-eabi-m4.cmake" in out
    assert (tmp_path / "m.onnx").stat().st_size > 0
    src = (tmp_path / "c" / "safu_model.c").read_text()
    assert '"turn on the lamp"' in src and '"open the door"' in src and "const int8_t safu_token_table[" in src
    for name in ("safu_mcu.c", "CMakeLists.txt", "boards/startup.c", "toolchains/arm-none-eabi-m3.cmake"):
        assert (tmp_path / "c" / name).exists(), name
    q = read_model_file(tmp_path / "q.safu")
    assert q.tensors["slot_U"].dtype == np.int8 and q.tensors["slot_U.scale"].dtype == np.float32


def test_export_errors_are_one_line(tmp_path, capsys):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    assert run_cli(["export", str(model)]) == 2
    assert "nothing to do" in capsys.readouterr().err
    (tmp_path / "junk.safu").write_bytes(b"JUNK" + bytes(60))
    assert run_cli(["export", str(tmp_path / "junk.safu"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert "junk.safu" in err and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()
