"""`safu bench`: the public API, the binding and the C++ core side by side, with the numpy
reference, onnxruntime and (on public data sets) fastText; load times.

    safu bench                         # built-in smart-home model (or one trained from HA templates)
    safu bench --model home.safu --format json
    safu bench --snips DATA/snips --clinc150 DATA/clinc150 --cache /tmp/safu-bench-models
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("bench", help="time the public API, binding and C++ core vs numpy, onnxruntime and "
                       "fastText; load times; streaming LM cost per token",
                       epilog="example: safu bench --model home.safu")
    p.add_argument("--model", default=None, help="intent model to time (default: the built-in model)")
    p.add_argument("--format", default="md", choices=["md", "json"], help="output format (default md)")
    p.add_argument("--no-stream", action="store_true", help="skip the streaming LM table")
    p.add_argument("--no-memory", action="store_true", help="skip the memory table")
    p.add_argument("--snips", metavar="DIR", help="SNIPS folder (train_*_full.json, validate_*.json): time safu "
                   "and fastText on a model trained on it")
    p.add_argument("--clinc150", metavar="DIR", help="CLINC150 folder (train.jsonl, val.jsonl): the same")
    p.add_argument("--cache", metavar="DIR", help="keep the data sets' trained models here and reuse them "
                   "(default: train afresh in a temporary folder; delete the folder after a data change)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from safu.runtime import bench_core
    from safu.runtime.backends import core_available

    if not core_available():
        raise ValueError("safu bench needs the compiled module safu._core; reinstall with `pip install .`")
    datasets = {name: folder for name, folder in (("snips", args.snips), ("clinc150", args.clinc150)) if folder}
    result = bench_core.run(args.model, stream=not args.no_stream, mem=not args.no_memory, datasets=datasets,
                            cache=args.cache, log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, indent=2) if args.format == "json" else bench_core.markdown(result))
    return 0
