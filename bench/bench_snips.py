"""SNIPS intent benchmark: safu (explicit-only and backprop-polished) vs TF-IDF + logistic regression.

    python bench/bench_snips.py [--snips ../shared/data/snips] [--polish 30] [--json]

Train on train_*_full (13,784 sentences), test on validate_* (700). Single thread (BLAS threads are
pinned to 1 before numpy loads). Prints one table; every figure comes from this run.
  top-1 accuracy : argmax intent, no rejection (what the baselines report)
  accuracy       : with safu's out-of-scope threshold applied (a rejection counts as wrong)
"""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_SNIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "snips"


def run_safu(train, test, polish_epochs: int, backend: str) -> dict:
    from safu.models.intent_model import IntentConfig, fit_intent_model
    from safu.runtime.api import load, out_of_scope_sentences
    from safu.runtime.evaluate import evaluate

    t0 = time.process_time()
    w0 = time.perf_counter()
    model = fit_intent_model(train, IntentConfig(polish_epochs=polish_epochs), out_of_scope=out_of_scope_sentences())
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snips.safu"
        model.save(path)
        size = path.stat().st_size
        m = load(path, backend=backend)
        report = evaluate(m, test)
        t = time.perf_counter()
        for ex in test:
            m.predict(ex.text)
        latency = (time.perf_counter() - t) / len(test)
    return {"top1": report["top1_accuracy"], "accuracy": report["accuracy"], "slot_f1": report["slot_f1"],
            "train_cpu_s": cpu, "train_wall_s": wall, "size_kib": size / 1024, "predict_us": latency * 1e6,
            "epochs": model.stats.get("polish_epochs_run", 0)}


def run_tfidf_lr(train, test) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.process_time()
    w0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    X = vec.fit_transform([ex.text for ex in train])
    clf = LogisticRegression(max_iter=2000, C=10.0)
    clf.fit(X, [ex.intent for ex in train])
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    pred = clf.predict(vec.transform([ex.text for ex in test]))
    acc = sum(p == ex.intent for p, ex in zip(pred, test)) / len(test)
    n_params = clf.coef_.size + clf.intercept_.size
    t = time.perf_counter()
    for ex in test:
        clf.predict(vec.transform([ex.text]))
    latency = (time.perf_counter() - t) / len(test)
    return {"top1": acc, "accuracy": acc, "slot_f1": None, "train_cpu_s": cpu, "train_wall_s": wall,
            "size_kib": n_params * 4 / 1024, "predict_us": latency * 1e6, "epochs": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snips", type=Path, default=DEFAULT_SNIPS)
    ap.add_argument("--polish", type=int, default=30, help="epochs budget of the polished run")
    ap.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.snips.is_dir():
        print(f"SNIPS folder not found: {args.snips} (pass --snips)", file=sys.stderr)
        return 2
    from safu.runtime.datasets import load_snips

    train = load_snips(args.snips, "train").examples
    test = load_snips(args.snips, "validate").examples
    rows = {
        "safu explicit-only": run_safu(train, test, 0, args.backend),
        f"safu + backprop polish (<= {args.polish} epochs)": run_safu(train, test, args.polish, args.backend),
        "TF-IDF (1-2 grams) + logistic regression": run_tfidf_lr(train, test),
    }
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"SNIPS: train {len(train)} sentences, test {len(test)}; one thread")
    print("| model | top-1 acc | acc with rejection | slot F1 | train CPU s | train wall s | size KiB | predict us |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        f1 = f"{r['slot_f1']:.3f}" if r["slot_f1"] is not None else "-"
        print(f"| {name} | {r['top1']:.4f} | {r['accuracy']:.4f} | {f1} | {r['train_cpu_s']:.1f} | "
              f"{r['train_wall_s']:.1f} | {r['size_kib']:.0f} | {r['predict_us']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
