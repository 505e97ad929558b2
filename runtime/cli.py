"""The `safu` command line.

    safu train DATA... -o model.safu      # fit a model from sentences (HA templates, YAML, JSONL, CSV, SNIPS)
    safu predict model.safu "turn on the kitchen lights"
    safu eval model.safu DATA... [--json]
    safu inspect model.safu

Each group of subcommands lives in its own module with a `register(subparsers)` function; this
file only wires them together and turns expected errors into one clear line and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# One BLAS thread: our matrices are small, and threaded BLAS was up to 10x slower on a busy machine.
# Must be set before numpy is imported; a user's explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Modules that add subcommands. Each defines register(subparsers) -> None.
COMMAND_MODULES = (
    "safu.runtime.cli_intent",
    "safu.runtime.cli_data",
    "safu.runtime.cli_bench",
    "safu.runtime.cli_lm",
    "safu.runtime.cli_export",
    "safu.runtime.cli_listen",
    "safu.runtime.cli_serve",
)


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    from safu import __version__

    parser = argparse.ArgumentParser(
        prog="safu",
        description="Offline, on-device language models: train in seconds, run anywhere.",
        epilog='example: safu predict default "turn on the kitchen lights"',
    )
    parser.add_argument("--version", action="version", version=f"safu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, OSError) as exc:
        # ValueError/OSError from our loaders carry file/line/field context; show them plainly.
        print(f"safu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
