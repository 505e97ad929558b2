"""Figures of the training-input loaders: intents, sentences, vocabulary and expansion time.

    python bench/bench_datasets.py [--shared ../shared/data] [--cap 2000] [--seed 0]

Prints one row per data set (full English Home Assistant set with the sample inventory, SNIPS
train and validate). Times are wall clock and process CPU time of load_examples/load_snips (CPU time is the fairer
figure on a shared machine); the
vocabulary is the distinct tokens of safu.models.tokenizer over the loaded sentences.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from safu.models.tokenizer import tokenize
from safu.runtime.datasets import load_examples, load_snips


def figures(name: str, load) -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    ds = load()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    vocab = {t.text for e in ds.examples for t in tokenize(e.text)}
    spans = sum(len(e.spanned_slots) for e in ds.examples)
    print(f"| {name} | {len(ds.intents)} | {len(ds.examples):,} | {len(vocab):,} | {spans:,} | {seconds:.2f} | {cpu:.2f} |")
    for line in ds.report:
        if line.startswith(("home assistant:", "warning:")):
            print(f"|   {line} | | | | | | |")


def main() -> None:
    default = os.environ.get("SAFU_SHARED_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=default, help="folder with home-assistant-intents/ and snips/")
    ap.add_argument("--cap", type=int, default=None, help="max sentences per intent (default: the loader's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shared = Path(args.shared)
    print("| data | intents | sentences | vocabulary | slot spans | wall s | cpu s |")
    print("|---|---|---|---|---|---|---|")
    ha = shared / "home-assistant-intents" / "sentences-en"
    figures(f"HA sentences-en, sample inventory, cap {args.cap or 'default'}",
            lambda: load_examples([ha], max_sentences_per_intent=args.cap, seed=args.seed))
    figures("SNIPS train", lambda: load_snips(shared / "snips", "train"))
    figures("SNIPS validate", lambda: load_snips(shared / "snips", "validate"))


if __name__ == "__main__":
    main()
