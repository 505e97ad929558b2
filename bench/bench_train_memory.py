"""Peak memory of training, step by step, on the path `safu train` takes.

    python bench/bench_train_memory.py                       # HA templates, 6,100 per intent: 134,984 sentences
    python bench/bench_train_memory.py --per-intent 10500    # 218,251 sentences
    python bench/bench_train_memory.py --per-intent 2200 --trace   # 53,574, with tracemalloc
    python bench/bench_train_memory.py DATA... --per-intent 6000

Runs safu.runtime.api.train (what `safu train` runs: loading, the <none> class for grammars,
fit_intent_model, the Home Assistant answers) and prints, for each step its progress callback
reports, the peak RSS within the step (Linux: /proc/self/status VmHWM, reset between steps through
/proc/self/clear_refs) and the CPU seconds it took, then the process peak RSS. --trace adds the
Python/numpy memory held at the end of each step and the peak within it (tracemalloc, which numpy
reports to); tracemalloc slows the Python parts down, so its seconds are not training speed.
Shared data: $SAFU_SHARED_DATA or <repo>/../shared/data.
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

SHARED = Path(os.environ.get("SAFU_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
HA = SHARED / "home-assistant-intents" / "sentences-en"


def mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def peak_rss_since_reset() -> int | None:
    """VmHWM in bytes (None where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="*", default=[str(HA)])
    ap.add_argument("--per-intent", type=int, default=6100,
                    help="sentences per intent (default 6,100; HA templates then give 134,984 with the <none> class)")
    ap.add_argument("--trace", action="store_true", help="also tracemalloc figures (slower)")
    ap.add_argument("--no-trace", action="store_true", help=argparse.SUPPRESS)  # the default now
    args = ap.parse_args()
    for path in args.data:
        if not Path(path).exists():
            print(f"training data not found: {path} (set SAFU_SHARED_DATA or pass DATA)", file=sys.stderr)
            return 2

    from safu.runtime.api import train

    rows = []
    state = {"step": "start (before the first step)", "t": time.process_time()}

    def mark(next_step: str) -> None:
        now = time.process_time()
        current, peak = tracemalloc.get_traced_memory() if args.trace else (0, 0)
        if args.trace:
            tracemalloc.reset_peak()
        rows.append((state["step"], peak_rss_since_reset(), current, peak, now - state["t"]))
        reset_peak_rss()
        state.update(step=next_step, t=now)

    if args.trace:
        tracemalloc.start()
    reset_peak_rss()
    t0 = time.process_time()
    model = train(args.data, max_sentences_per_intent=args.per_intent, progress=mark)
    mark("done")
    cpu = time.process_time() - t0
    n = model.stats["examples"]
    print(f"{n:,} training sentences (with <none>), {len(model.vocab):,} words, {len(model.intents)} intents")
    head = f"{'step (from the callback that starts it)':44s} {'peak RSS':>12s}"
    if args.trace:
        head += f" {'py held after':>13s} {'py peak':>12s}"
    print(head + f" {'CPU s':>7s}")
    for step, rss, current, peak, seconds in rows:
        line = f"{step:44s} {mib(rss) if rss is not None else '-':>12s}"
        if args.trace:
            line += f" {mib(current):>13s} {mib(peak):>12s}"
        print(line + f" {seconds:7.1f}")
    # clear_refs resets ru_maxrss too: the process peak is the largest step peak where /proc exists
    step_peaks = [rss for _, rss, _, _, _ in rows if rss is not None]
    rss = max(step_peaks) if step_peaks else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS {rss / 2**30:.2f} GiB ({rss / max(n, 1) / 1024:.1f} KiB per sentence), "
          f"training CPU {cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
