"""Intent benchmark: safu against TF-IDF + logistic regression and fastText on sentences the models
never saw. Prints one markdown table (rows: data set x metric, columns: models).

    python bench/bench_intents.py [--data DIR] [--rows snips clinc coffee ha]
                                  [--columns safu safu-explicit safu-polish tfidf-lr fasttext] [--json FILE]
                                  [--set KEY=VALUE ...] [--seeds S ...] [--errors DIR]

Data sets (in DIR, default $SAFU_SHARED_DATA or <repo>/../shared/data):
  snips   train_*_full (13,784 sentences) -> validate_* (700)
  clinc   clinc150/train.jsonl -> val.jsonl; "intent": null rows are out-of-scope sentences (trained as such,
          and in the test they give the out-of-scope recall). Nothing is tuned.
  coffee  picovoice-coffee/coffee_maker.yaml (a Rhino context, one intent), default sampling (seed 0) ->
          2,000 other expansions of the grammar (seed 1, texts seen in training dropped)
  ha      home-assistant-intents/sentences-en with the loader's sample inventory, default sampling (seed 0) ->
          3,000 other expansions (seed 1, at most 300 per intent drawn, texts seen in training dropped)
Models:
  safu           IntentConfig() (logistic intent layer warm-started from the explicit fit)
  safu-explicit  IntentConfig(head="explicit")
  safu-polish    IntentConfig(polish_epochs=10)
  tfidf-lr       TF-IDF (1-2 grams, sublinear tf) + logistic regression (C=10), scikit-learn
  fasttext       fastText supervised (lr 0.5, 25 epochs, word bigrams, 200k buckets, dim 50: the fastText
                 tutorial's settings; its lr 1.0 diverges on SNIPS), text lowercased, punctuation split off
--set KEY=VALUE (repeatable) changes a training option of every safu column, as `safu train --set` does
(e.g. --set general_std=0.03 --set general_dims=128); the table's notes list what was set.
--seeds S ... trains every safu column once per seed (IntentConfig.seed: the held-out split, the <unk> draws,
the slot layer's sample) and reports each figure as the mean over the seeds, with the lowest and highest in
brackets (none when every seed gives the same); the baselines run once. One seed's figure is one draw:
SNIPS validate top-1 is 0.9871 / 0.9829 / 0.9843 at seeds 0 / 1 / 2 of the same training, a spread larger
than most changes of the method make (docs/method.md section 6).
--errors DIR writes DIR/<row>-<column>-seed<S>.jsonl, one JSON line per test example (what `safu eval
--errors` writes: text, expected, predicted, best_intent, confidence, rejected, slots).
Every model trains on the same input: the data set's sentences plus the out-of-scope sentences that
ship with safu (and the data's null rows); safu uses them for its rejection threshold (and, with one
intent, as a <none> class, as `safu train` does), the baselines as one extra class "<oos>".
Metrics:
  top-1 accuracy     best in-scope intent, no rejection, over in-scope test rows
  acc. w/ rejection  over all test rows: an in-scope row must get its intent (a rejection is wrong),
                     an out-of-scope row must be rejected (safu: intent None; baselines: "<oos>" ranked first)
  OOS recall         share of out-of-scope test rows rejected (CLINC only)
  slot F1, exact     safu.runtime.evaluate: slot (name, value) pairs; exact = intent right and every slot equal
  train CPU s        time.process_time() of the fit (data already loaded)
  size KiB           the model file on disk (safu .safu, fastText .bin, pickled vectoriser + classifier)
  predict us         per sentence, one at a time (safu through safu.load(path).predict), first 1,000 test rows
One thread: BLAS thread counts are pinned to 1 before numpy loads, fastText runs with thread=1 (in a fresh
process, whose CPU time is the one counted).
"""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SAFU_SHARED_DATA") or REPO.parent / "shared" / "data")
OOS = "<oos>"             # the baselines' out-of-scope class
LATENCY_ROWS = 1000
ROWS = ["snips", "clinc", "coffee", "ha"]
COLUMNS = {"safu": "safu default", "safu-explicit": "safu explicit", "safu-polish": "safu polished (10)",
           "tfidf-lr": "TF-IDF + LR", "fasttext": "fastText"}
METRICS = [("top1", "top-1 accuracy", "{:.4f}"), ("accuracy", "acc. w/ rejection", "{:.4f}"),
           ("oos_recall", "OOS recall", "{:.4f}"), ("slot_f1", "slot F1", "{:.4f}"),
           ("exact", "exact slots", "{:.4f}"), ("train_cpu_s", "train CPU s", "{:.1f}"),
           ("size_kib", "size KiB", "{:,.0f}"), ("predict_us", "predict us", "{:,.0f}")]


# ---------------------------------------------------------------------------------------------
# Data sets: (train examples, test examples)

def _key(text: str) -> str:
    return " ".join(text.lower().split())


def held_out(path: Path, train, n: int, cap: int, seed: int = 1):
    """n expansions of the templates at `path` sampled with another seed, none of whose text is in train."""
    from safu.runtime.datasets import load_examples

    seen = {_key(ex.text) for ex in train}
    fresh = [ex for ex in load_examples([path], max_sentences_per_intent=cap, seed=seed).examples
             if ex.intent is not None and _key(ex.text) not in seen]
    return random.Random(seed).sample(fresh, min(n, len(fresh)))


def load_row(name: str, data: Path, snips: Path):
    from safu.runtime.datasets import load_examples, load_snips

    if name == "snips":
        return load_snips(snips, "train").examples, load_snips(snips, "validate").examples
    if name == "clinc":
        return (load_examples([data / "clinc150" / "train.jsonl"]).examples,
                load_examples([data / "clinc150" / "val.jsonl"]).examples)
    path = data / ("picovoice-coffee/coffee_maker.yaml" if name == "coffee" else "home-assistant-intents/sentences-en")
    train = load_examples([path]).examples
    n, cap = (2000, 6000) if name == "coffee" else (3000, 300)
    return train, held_out(path, train, n, cap)


# ---------------------------------------------------------------------------------------------
# Models: each returns {metric: value}

def run_safu(train, test, config, tmp: Path, errors: Path | None = None) -> dict:
    """As `safu train`: null rows and the shipped sentences are out of scope; one intent turns the <none> class on.
    errors: a JSONL file for evaluate's per-example records (None: not written)."""
    from safu.models.intent_model import fit_intent_model
    from safu.runtime.api import load, out_of_scope_sentences
    from safu.runtime.evaluate import evaluate

    commands = [ex for ex in train if ex.intent is not None]
    oos = out_of_scope_sentences() + [ex.text for ex in train if ex.intent is None]
    if len({ex.intent for ex in commands}) == 1:
        config = replace(config, none_class=True)
    t0 = time.process_time()
    model = fit_intent_model(commands, config, out_of_scope=oos)
    cpu = time.process_time() - t0
    path = tmp / "model.safu"
    model.save(path)
    m = load(path)
    records: list = []
    r = evaluate(m, test, records=records.append if errors else None)
    if errors:
        errors.parent.mkdir(parents=True, exist_ok=True)
        errors.write_text("".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records), encoding="utf-8")
    latency = _latency(m.predict, test)
    slots = any(s.start >= 0 for ex in test for s in ex.slots)   # slot metrics only where the data has slots
    return {"top1": r["top1_accuracy"], "accuracy": r["accuracy"], "oos_recall": r["oos_recall"],
            "slot_f1": r["slot_f1"] if slots else None, "exact": r["exact_slots_accuracy"] if slots else None,
            "train_cpu_s": cpu,
            "size_kib": path.stat().st_size / 1024, "predict_us": latency}


def run_tfidf_lr(train, test, tmp: Path) -> dict:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = _baseline_train(train)
    t0 = time.process_time()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    clf = LogisticRegression(max_iter=2000, C=10.0).fit(vec.fit_transform(texts), labels)
    cpu = time.process_time() - t0
    scores = clf.predict_proba(vec.transform([ex.text for ex in test]))
    ranked = [list(clf.classes_[np.argsort(-s)]) for s in scores]
    path = tmp / "tfidf_lr.pkl"
    path.write_bytes(pickle.dumps((vec, clf)))
    latency = _latency(lambda t: clf.predict(vec.transform([t])), test)
    return {**_baseline_scores(ranked, test), "train_cpu_s": cpu, "size_kib": path.stat().st_size / 1024,
            "predict_us": latency}


def _ft_text(text: str) -> str:
    return " ".join(re.findall(r"\w+|[^\w\s]", text.lower()))


def run_fasttext(train, test, tmp: Path) -> dict:
    """In a fresh interpreter: inside this long-running process fastText's training hit NaN on SNIPS
    while the same call in a new process did not."""
    import multiprocessing

    texts, labels = _baseline_train(train)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        r = pool.apply(_fasttext_child, (texts, labels, [ex.text for ex in test], str(tmp)))
    return {**_baseline_scores(r.pop("ranked"), test), **r}


def _fasttext_child(texts, labels, test_texts, tmp) -> dict:
    import fasttext

    data = Path(tmp) / "fasttext_train.txt"
    data.write_text("".join(f"__label__{lab} {_ft_text(t)}\n" for t, lab in zip(texts, labels)), encoding="utf-8")
    t0 = time.process_time()
    model = fasttext.train_supervised(str(data), lr=0.5, epoch=25, wordNgrams=2, bucket=200_000, dim=50,
                                      thread=1, seed=0, verbose=0)
    cpu = time.process_time() - t0
    n = len(model.labels)
    ranked = [[lab[len("__label__"):] for lab in model.predict(_ft_text(t), k=n)[0]] for t in test_texts]
    path = Path(tmp) / "fasttext.bin"
    model.save_model(str(path))
    t = time.perf_counter()
    for text in test_texts[:LATENCY_ROWS]:
        model.predict(_ft_text(text))
    latency = (time.perf_counter() - t) / min(len(test_texts), LATENCY_ROWS) * 1e6
    return {"ranked": ranked, "train_cpu_s": cpu, "size_kib": path.stat().st_size / 1024, "predict_us": latency}


def _baseline_train(train) -> tuple[list[str], list[str]]:
    from safu.runtime.api import out_of_scope_sentences

    rows = [(ex.text, ex.intent if ex.intent is not None else OOS) for ex in train]
    rows += [(t, OOS) for t in out_of_scope_sentences()]
    return [t for t, _ in rows], [lab for _, lab in rows]


def _baseline_scores(ranked: list[list[str]], test) -> dict:
    """top-1 over in-scope rows (best label other than <oos>), accuracy with <oos> as the rejection."""
    inscope = [(r, ex) for r, ex in zip(ranked, test) if ex.intent is not None]
    oos = [r for r, ex in zip(ranked, test) if ex.intent is None]
    top1 = sum(next(lab for lab in r if lab != OOS) == ex.intent for r, ex in inscope)
    ok_in = sum(r[0] == ex.intent for r, ex in inscope)
    ok_oos = sum(r[0] == OOS for r in oos)
    return {"top1": top1 / len(inscope), "accuracy": (ok_in + ok_oos) / len(test),
            "oos_recall": ok_oos / len(oos) if oos else None, "slot_f1": None, "exact": None}


def _latency(predict, test) -> float:
    texts = [ex.text for ex in test[:LATENCY_ROWS]]
    t = time.perf_counter()
    for text in texts:
        predict(text)
    return (time.perf_counter() - t) / len(texts) * 1e6


SAFU_COLUMNS = ("safu", "safu-explicit", "safu-polish")


def run_column(column: str, train, test, settings: dict | None = None, errors: Path | None = None) -> dict:
    from safu.models.intent_model import IntentConfig

    base = IntentConfig(**(settings or {}))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if column == "safu":
            return run_safu(train, test, base, tmp, errors)
        if column == "safu-explicit":
            return run_safu(train, test, replace(base, head="explicit"), tmp, errors)
        if column == "safu-polish":
            return run_safu(train, test, replace(base, polish_epochs=10), tmp, errors)
        if column == "tfidf-lr":
            return run_tfidf_lr(train, test, tmp)
        return run_fasttext(train, test, tmp)


def mean_over_seeds(runs: list[dict]) -> dict:
    """{metric: mean over the runs} (None where every run has None), plus "range": {metric: (low, high)}
    for the metrics with a value in every run, when there are two runs or more."""
    if not runs:
        raise ValueError("mean_over_seeds: no runs")
    out: dict = {}
    spread: dict = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        known = [v for v in values if v is not None]
        if len(known) != len(values):
            if known:
                raise ValueError(f"mean_over_seeds: {key!r} has a value in only {len(known)} of {len(values)} runs")
            out[key] = None
            continue
        out[key] = sum(known) / len(known)
        if len(known) > 1:
            spread[key] = (min(known), max(known))
    if spread:
        out["range"] = spread
    return out


# ---------------------------------------------------------------------------------------------

RANGE_METRICS = {"top1", "accuracy", "oos_recall", "slot_f1", "exact"}   # shown with their low-high over seeds


def _cell(cell: dict | None, key: str, fmt: str) -> str:
    v = cell.get(key) if cell else None
    if v is None:
        return "-"
    text = fmt.format(v)
    lo_hi = (cell.get("range") or {}).get(key)
    if lo_hi and key in RANGE_METRICS and lo_hi[0] != lo_hi[1]:
        text += f" ({fmt.format(lo_hi[0])}-{fmt.format(lo_hi[1])})"
    return text


def table(results: dict, sizes: dict, columns: list[str], notes: list[str]) -> str:
    lines = ["| data set (train -> test) | metric | " + " | ".join(COLUMNS[c] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for row, cells in results.items():
        label = f"{row} ({sizes[row][0]:,} -> {sizes[row][1]:,})"
        for key, name, fmt in METRICS:
            values = [cells[c].get(key) if cells.get(c) else None for c in columns]
            if all(v is None for v in values):
                continue
            lines.append(f"| {label} | {name} | " + " | ".join(_cell(cells.get(c), key, fmt) for c in columns) + " |")
            label = ""
    return "\n".join(lines + [""] + notes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (default %(default)s)")
    ap.add_argument("--snips", type=Path, default=None, help="SNIPS folder (default DATA/snips)")
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS)
    ap.add_argument("--columns", nargs="+", choices=list(COLUMNS), default=list(COLUMNS))
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                    help="a training option of the safu columns (repeatable), as safu train --set")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, metavar="S",
                    help="train the safu columns once per seed and report the mean (low-high); default: one run, seed 0")
    ap.add_argument("--errors", type=Path, default=None, metavar="DIR",
                    help="write DIR/<row>-<column>-seed<S>.jsonl: one JSON line per test example of each safu run")
    args = ap.parse_args(argv)
    from dataclasses import asdict

    from safu.models.intent_model import IntentConfig
    from safu.runtime.cli_intent import _parse_setting

    try:
        settings = dict(_parse_setting(item, asdict(IntentConfig())) for item in args.settings)
        IntentConfig(**settings).validate()
        if args.seeds is not None and "seed" in settings:
            raise ValueError("give the seed either with --seeds or with --set seed=S, not both")
    except ValueError as exc:
        print(f"bench_intents: {exc}", file=sys.stderr)
        return 2
    seeds = args.seeds if args.seeds is not None else [settings.pop("seed", 0)]
    snips = args.snips or args.data / "snips"
    if not args.data.is_dir():
        print(f"shared data folder not found: {args.data} (pass --data or set SAFU_SHARED_DATA)", file=sys.stderr)
        return 2
    columns = list(args.columns)
    notes = ["One thread; every figure from this run."]
    if settings:
        notes.append("safu columns trained with " + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".")
    if len(seeds) > 1:
        notes.append(f"safu columns: mean over seeds {', '.join(map(str, seeds))} (lowest-highest); baselines: one run.")
    elif seeds != [0]:
        notes.append(f"safu columns trained with seed {seeds[0]}.")
    if "fasttext" in columns:
        try:
            import fasttext  # noqa: F401
        except ImportError as exc:
            notes.append(f"fastText: not installed ({exc}); pip install '.[test]'")
            columns_run = [c for c in columns if c != "fasttext"]
        else:
            columns_run = columns
    else:
        columns_run = columns
    results, sizes, per_seed = {}, {}, {}
    for row in args.rows:
        train, test = load_row(row, args.data, snips)
        sizes[row] = (len(train), len(test))
        print(f"{row}: train {len(train):,}, test {len(test):,}", file=sys.stderr, flush=True)
        results[row], per_seed[row] = {}, {}
        for c in columns_run:
            try:
                if c in SAFU_COLUMNS:
                    runs = [run_column(c, train, test, {**settings, "seed": s},
                                       args.errors / f"{row}-{c}-seed{s}.jsonl" if args.errors else None)
                            for s in seeds]
                    per_seed[row][c] = dict(zip(seeds, runs))
                    results[row][c] = mean_over_seeds(runs)
                else:
                    results[row][c] = run_column(c, train, test, settings)
            except Exception as exc:   # one failing model leaves a "-" and a note, not a lost run
                notes.append(f"{COLUMNS[c]} on {row}: failed: {type(exc).__name__}: {exc}")
                print(f"  {c}: {notes[-1]}", file=sys.stderr, flush=True)
                continue
            for label, r in (per_seed[row].get(c) or {"": results[row][c]}).items():
                seed_note = f" seed {label}" if len(seeds) > 1 and c in SAFU_COLUMNS else ""
                print(f"  {c}{seed_note}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()
                                                         if v is not None and k != "range"),
                      file=sys.stderr, flush=True)
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps({"sizes": sizes, "seeds": seeds, "results": results, "per_seed": per_seed},
                                  indent=1), encoding="utf-8")
        tmp.replace(args.json)
    print(table(results, sizes, columns, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
