"""Evaluation of an intent model on labelled examples.

An example whose intent is not one of the model's intents (or is None) is out of scope: it is
counted correct only if the model rejects it (intent None).

    report = evaluate(model, examples)
    report["accuracy"], report["slot_f1"]
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from safu.models.tokenizer import tokenize


def _norm(value: str) -> str:
    return " ".join(t.text for t in tokenize(str(value)))


def evaluate(model, examples, progress=None) -> dict:
    """Returns accuracy, top1_accuracy, macro_f1, inscope_accuracy, oos_recall, slot precision/recall/F1, n."""
    known = set(model.intents) - {"<none>"}
    n = len(examples)
    correct = top1 = inscope = inscope_ok = oos = oos_ok = 0
    tp = Counter()
    fp = Counter()
    fn = Counter()
    slot_tp = slot_fp = slot_fn = 0
    for i, ex in enumerate(examples):
        p = model.predict(ex.text)
        if ex.intent in known:
            inscope += 1
            ok = p.intent == ex.intent
            inscope_ok += ok
            top1 += p.best_intent == ex.intent
            gold = {(s.name, _norm(s.value)) for s in ex.slots if s.start >= 0 and s.end > s.start}
            pred = {(s.name, _norm(s.value)) for s in p.spans}
            slot_tp += len(gold & pred)
            slot_fp += len(pred - gold)
            slot_fn += len(gold - pred)
        else:
            oos += 1
            ok = p.intent is None
            oos_ok += ok
        correct += ok
        gold_label = ex.intent if ex.intent in known else None
        if ok:
            tp[gold_label] += 1
        else:
            fp[p.intent] += 1
            fn[gold_label] += 1
        if progress:
            progress.count(i + 1, n, "evaluating")
    labels = sorted(known) + ([None] if oos else [])
    f1s = []
    for lab in labels:
        denom = 2 * tp[lab] + fp[lab] + fn[lab]
        f1s.append(2 * tp[lab] / denom if denom else 0.0)
    sp = slot_tp / (slot_tp + slot_fp) if slot_tp + slot_fp else 0.0
    sr = slot_tp / (slot_tp + slot_fn) if slot_tp + slot_fn else 0.0
    return {
        "n": n,
        "n_inscope": inscope,
        "n_out_of_scope": oos,
        "accuracy": correct / n if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "inscope_accuracy": inscope_ok / inscope if inscope else None,
        "top1_accuracy": top1 / inscope if inscope else None,
        "oos_recall": oos_ok / oos if oos else None,
        "slot_precision": sp,
        "slot_recall": sr,
        "slot_f1": 2 * sp * sr / (sp + sr) if sp + sr else 0.0,
    }
