"""Evaluation of an intent model on labelled examples (metric definitions: docs/evaluation.md).

An example whose intent is not one of the model's intents (or is None) is out of scope: it is
counted correct only if the model rejects it (intent None). Labels the model does not know are
listed under "unknown_intents" (a label spelled differently from training silently becomes
out of scope otherwise).

    report = evaluate(model, examples, records=rows.append)
    report["accuracy"], report["macro_f1"], report["slot_f1"]
    rows[0]   # {"text", "expected", "predicted", "best_intent", "confidence", "rejected", "correct", ...}
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from safu.models.tokenizer import tokenize

OUT_OF_SCOPE = None   # the label of out-of-scope examples and of rejected predictions


def _norm(value: str) -> str:
    return " ".join(t.text for t in tokenize(str(value)))


def evaluate(model, examples, progress=None, records=None) -> dict:
    """Returns n, n_inscope, n_out_of_scope, accuracy, macro_f1, inscope_accuracy, top1_accuracy,
    oos_recall, slot precision/recall/F1, exact_slots_accuracy, and unknown_intents ({label: count}
    of expected intents the model lacks, scored as out of scope; only when there are some).
    records: optional callable given one dict per example (what `safu eval --errors` writes)."""
    known = set(model.intents) - {"<none>"}
    n = len(examples)
    correct = top1 = inscope = inscope_ok = oos = oos_ok = exact = 0
    tp = Counter()
    fp = Counter()
    fn = Counter()
    unknown = Counter()
    slot_tp = slot_fp = slot_fn = 0
    for i, ex in enumerate(examples):
        p = model.predict(ex.text)
        gold_slots = pred_slots = None
        if ex.intent in known:
            inscope += 1
            ok = p.intent == ex.intent
            inscope_ok += ok
            top1 += p.best_intent == ex.intent
            gold_slots = {(s.name, _norm(s.value)) for s in ex.slots if s.start >= 0 and s.end > s.start}
            pred_slots = {(s.name, _norm(s.value)) for s in p.spans}
            slot_tp += len(gold_slots & pred_slots)
            slot_fp += len(pred_slots - gold_slots)
            slot_fn += len(gold_slots - pred_slots)
            exact += ok and gold_slots == pred_slots
        else:
            if ex.intent is not None:
                unknown[ex.intent] += 1
            oos += 1
            ok = p.intent is None
            oos_ok += ok
        correct += ok
        gold_label = ex.intent if ex.intent in known else OUT_OF_SCOPE
        if ok:
            tp[gold_label] += 1
        else:
            fp[p.intent] += 1
            fn[gold_label] += 1
        if records is not None:
            records(_record(ex, p, gold_label, ok, gold_slots, pred_slots))
        if progress:
            progress.count(i + 1, n, "evaluating")
    # Macro-F1 over the labels that occur among the expected ones (out of scope counts as one
    # label): intents of the model that the data never asks for do not add zeros.
    labels = sorted({lab for lab in tp.keys() | fn.keys() if lab is not OUT_OF_SCOPE}) \
        + ([OUT_OF_SCOPE] if oos else [])
    f1s = []
    for lab in labels:
        denom = 2 * tp[lab] + fp[lab] + fn[lab]
        f1s.append(2 * tp[lab] / denom if denom else 0.0)
    sp = slot_tp / (slot_tp + slot_fp) if slot_tp + slot_fp else 0.0
    sr = slot_tp / (slot_tp + slot_fn) if slot_tp + slot_fn else 0.0
    report = {
        "n": n,
        "n_inscope": inscope,
        "n_out_of_scope": oos,
        "accuracy": correct / n if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "macro_f1_labels": len(labels),
        "inscope_accuracy": inscope_ok / inscope if inscope else None,
        "top1_accuracy": top1 / inscope if inscope else None,
        "oos_recall": oos_ok / oos if oos else None,
        "slot_precision": sp,
        "slot_recall": sr,
        "slot_f1": 2 * sp * sr / (sp + sr) if sp + sr else 0.0,
        "exact_slots_accuracy": exact / inscope if inscope else None,
    }
    if unknown:
        report["unknown_intents"] = dict(unknown.most_common())
    return report


def _record(ex, p, gold_label, ok, gold_slots, pred_slots) -> dict:
    return {
        "text": ex.text,
        "expected": gold_label,
        "expected_label": ex.intent,          # as written in the data (differs when unknown)
        "predicted": p.intent,                # None when rejected
        "best_intent": p.best_intent,         # the top intent even when rejected
        "confidence": round(float(p.confidence), 6),
        "rejected": p.intent is None,
        "reason": p.reason,
        "correct": bool(ok),
        "expected_slots": None if gold_slots is None else dict(sorted(gold_slots)),
        "predicted_slots": {s.name: s.value for s in p.spans},
        "slots_correct": None if gold_slots is None else gold_slots == pred_slots,
    }


def label_warning(report: dict, model_intents, limit: int = 5) -> str | None:
    """A one-line warning when expected intents are not the model's (None if all are known)."""
    unknown = report.get("unknown_intents")
    if not unknown:
        return None
    known = sorted(set(model_intents) - {"<none>"})
    rows = sum(unknown.values())
    names = ", ".join(repr(k) for k in list(unknown)[:limit]) + (" ..." if len(unknown) > limit else "")
    lower = {k.lower(): k for k in known}
    hints = [f"{k!r} -> {lower[k.lower()]!r}" for k in unknown if k.lower() in lower][:3]
    line = (f"warning: {rows:,} of {report['n']:,} examples have intents the model does not know "
            f"({len(unknown)} labels: {names}); they are scored as out of scope (correct only if rejected)")
    if report["n_inscope"] == 0:
        line += "; no label of the data is one of the model's intents"
    if hints:
        line += f"; same name in another case: {', '.join(hints)}"
    shown = ", ".join(known[:limit]) + (" ..." if len(known) > limit else "")
    return line + f". The model's intents: {shown}"
