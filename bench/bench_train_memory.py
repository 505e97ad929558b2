"""Peak memory of intent training, step by step.

    python bench/bench_train_memory.py                       # HA templates, 6,100 per intent: 124,979
    python bench/bench_train_memory.py --per-intent 14000 --no-trace   # 255,446 sentences, RSS only
    python bench/bench_train_memory.py DATA... --per-intent 6000

Prints, for loading and for each step fit_intent_model reports through its progress callback, the
Python/numpy memory held at the end of the step and the peak within it (tracemalloc, which numpy
reports to), then the process peak RSS. tracemalloc slows the Python parts down; the seconds are
not training speed.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HA = Path(__file__).resolve().parents[2] / "shared" / "data" / "home-assistant-intents" / "sentences-en"


def mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="*", default=[str(HA)])
    ap.add_argument("--per-intent", type=int, default=6100,
                    help="sentences per intent (default 6,100; HA templates give about 125,000 in all)")
    ap.add_argument("--no-trace", action="store_true", help="peak RSS only (no tracemalloc, real speed)")
    args = ap.parse_args()

    from safu.models.intent_model import IntentConfig, fit_intent_model
    from safu.runtime.api import out_of_scope_sentences
    from safu.runtime.datasets import load_examples

    rows = []
    state = {"step": "loading", "t": time.perf_counter()}

    def mark(next_step: str) -> None:
        now = time.perf_counter()
        if not args.no_trace:
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
        else:
            current = peak = 0
        rows.append((state["step"], current, peak, now - state["t"]))
        state.update(step=next_step, t=now)

    if not args.no_trace:
        tracemalloc.start()
    ds = load_examples(args.data, max_sentences_per_intent=args.per_intent)
    n = len(ds.examples)
    mark("fit: before its first step")
    model = fit_intent_model(ds.examples, IntentConfig(), out_of_scope=out_of_scope_sentences(), progress=mark)
    mark("done")
    print(f"{n:,} training sentences, {len(model.vocab):,} words, {len(model.intents)} intents")
    print(f"{'step (from the callback that starts it)':44s} {'held after':>12s} {'peak in step':>13s} {'seconds':>8s}")
    for step, current, peak, seconds in rows:
        held = f"{'-':>12s} {'-':>13s}" if args.no_trace else f"{mib(current)} {mib(peak)}"
        print(f"{step:44s} {held} {seconds:8.1f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS {rss / 2**30:.2f} GiB ({rss / max(n, 1) / 1024:.1f} KiB per sentence)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
