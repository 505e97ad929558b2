"""`safu export`: a model to ONNX, to a C project for microcontrollers, or to an int8 model file.

    safu export model.safu --onnx model.onnx
    safu export default --c mcu/ --int8          # built-in smart-home model, int8 weights
    safu export model.safu --c mcu/ --utterances lines.txt
    safu export model.safu --int8 --safu model-int8.safu
    safu export model.safu --c mcu/ --force      # overwrite the files of an existing project
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

EPILOG = """examples:
  safu export model.safu --onnx model.onnx
  safu export default --c mcu/ --int8
  cmake -S mcu -B build-m4 -DCMAKE_TOOLCHAIN_FILE=$PWD/mcu/toolchains/arm-none-eabi-m4.cmake && \\
    cmake --build build-m4 && ctest --test-dir build-m4
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export an intent model to ONNX or C (microcontrollers)",
        description="Export an intent model to an ONNX graph, a self-contained C project "
                    "(weights in flash, no heap, no libm) or an int8 .safu file.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .safu intent model, or 'default' for the built-in smart-home model")
    p.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model (opset 17)")
    p.add_argument("--c", dest="c_dir", metavar="OUT_DIR", help="write a C project (CMake, toolchains for boards)")
    p.add_argument("--int8", action="store_true",
                   help="store token_table, slot_U and intent_U as int8 with one float32 scale per row")
    p.add_argument("--utterances", metavar="FILE",
                   help="test utterances compiled into the C program, one per line "
                        "(default: up to 12 training sentences stored in the model)")
    p.add_argument("--safu", metavar="OUT.safu", help="write the (with --int8: quantised) model file")
    p.add_argument("--force", action="store_true",
                   help="write the C project into OUT_DIR even if it is not empty (its files are overwritten)")
    p.set_defaults(func=run)


def resolve_model_path(name: str) -> Path:
    if name == "default":
        from safu.runtime.api import DEFAULT_MODEL

        if not DEFAULT_MODEL.exists():
            raise FileNotFoundError(f"the built-in model is missing from the installation: {DEFAULT_MODEL}")
        return DEFAULT_MODEL
    return Path(name)


def run(args) -> int:
    from safu.runtime.cli import UserError

    if not (args.onnx or args.c_dir or args.safu):
        raise UserError("nothing to do: give --onnx OUT.onnx, --c OUT_DIR and/or --safu OUT.safu")
    from safu.export.intent_tensors import load_intent_tensors

    path = resolve_model_path(args.model)
    for flag, out in (("--onnx", args.onnx), ("--safu", args.safu)):
        if out and Path(out).exists() and path.exists() and os.path.samefile(out, path):
            raise UserError(f"{flag} {out} is the input model: choose another output path")
    if args.c_dir:   # before anything is written
        from safu.export.c_export import check_export_dir

        check_export_dir(args.c_dir, args.force)
    spec = load_intent_tensors(path)   # the readers' checks: a file they refuse is not exported
    if args.int8:
        spec = spec.quantized()
    if args.onnx:
        from safu.export.onnx_export import export_onnx

        out = export_onnx(spec, args.onnx)
        print(f"wrote {out} (ONNX opset 17, {'int8' if args.int8 else 'float32'} weights, "
              f"{out.stat().st_size} bytes); input 'ids' int64 (n,), outputs p_intent (C,), p_slot (n, S)")
    if args.c_dir:
        from safu.export.c_export import export_c

        utterances = None
        if args.utterances:
            text = Path(args.utterances).read_text(encoding="utf-8")
            utterances = [line for line in text.splitlines() if line.strip()]
            if not utterances:
                raise UserError(f"{args.utterances}: no utterances (one per line expected)")
        files = export_c(spec, args.c_dir, utterances=utterances, force=args.force)
        print(f"wrote {len(files)} files to {args.c_dir}; build for a Cortex-M4F board under QEMU with:\n"
              f"  cmake -S {args.c_dir} -B build-m4 "
              f"-DCMAKE_TOOLCHAIN_FILE={Path(args.c_dir).resolve()}/toolchains/arm-none-eabi-m4.cmake\n"
              f"  cmake --build build-m4 && ctest --test-dir build-m4")
    if args.safu:
        from safu.export.model_file import write_model_file

        write_model_file(args.safu, spec.metadata, spec.tensors)
        print(f"wrote {args.safu}")
    return 0
