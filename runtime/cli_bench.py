"""`safu bench`: the C++ core side by side with the numpy reference and onnxruntime.

    safu bench                         # built-in smart-home model (or one trained from HA templates)
    safu bench --model home.safu --format json
"""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("bench", help="time the C++ core vs numpy and onnxruntime; streaming LM cost per token",
                       epilog="example: safu bench --model home.safu")
    p.add_argument("--model", default=None, help="intent model to time (default: the built-in model)")
    p.add_argument("--format", default="md", choices=["md", "json"], help="output format (default md)")
    p.add_argument("--no-stream", action="store_true", help="skip the streaming LM table")
    p.add_argument("--no-memory", action="store_true", help="skip the memory table")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from safu.runtime import bench_core
    from safu.runtime.backends import core_available

    if not core_available():
        raise ValueError("safu bench needs the compiled module safu._core; reinstall with `pip install .`")
    result = bench_core.run(args.model, stream=not args.no_stream, mem=not args.no_memory)
    print(json.dumps(result, indent=2) if args.format == "json" else bench_core.markdown(result))
    return 0
