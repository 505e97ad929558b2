"""Structured fuzzing of intent-model files with VALID CRCs and bad metadata, both backends.

    python tests/fuzz/fuzz_metadata.py --cases 2000 --seed 1 [--max-seconds 600]

Each case starts from a valid random model (tests/cpp_model_fixtures.py), or one entry of the
failure table (tests/model_check_cases.py), applies 1-4 random edits (a key set to a value of a
random type or an extreme number, a key or tensor removed, a tensor replaced by one of a random
shape and dtype, NaN/inf poked into weights, a tensor stored as int8 with or without a fitting
scale, dimensions changed consistently so that new valid files are made too) and writes it with
the normal writer, so every checksum is right. Then the numpy side (export/intent_check.py +
models/reference.py) and the C++ core (safu._core.IntentModel) each load it and, when it loads,
predict and run the forward pass. Required: both refuse with the same message, or both load and
give finite probabilities that agree (atol 1e-3). Anything else (another exception, a message
mismatch, a case slower than --case-seconds, an allocation past the address-space limit) is
counted and printed with the case's edits; the exit status is 1 if there was any.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cpp_model_fixtures import random_intent_tensors  # noqa: E402
from model_check_cases import CASES  # noqa: E402
from safu.export.intent_check import check_intent_model  # noqa: E402
from safu.export.model_file import F64, I64, ModelFormatError, decode_model, encode_model  # noqa: E402
from safu.models.reference import IntentReference  # noqa: E402
from safu.models.tokenizer import SPECIALS, Vocabulary  # noqa: E402

KEYS = ["general.kind", "tokenizer.vocab", "tokenizer.max_tokens", "model.dim", "slot.radius",
        "intent.bigram_buckets", "intent.labels", "slot.labels", "slot.synonyms", "intent.threshold"]
TENSORS = ["token_table", "slot_W", "slot_U", "slot_b", "intent_W", "intent_U", "intent_b",
           "slot_allowed", "slot_transitions", "token_table.scale", "slot_U.scale", "intent_U.scale"]
OVERFLOW = "forward: non-finite probabilities"
SENTENCES = ["turn on the kitchen lights", "set the living room to 21.5 degrees please",
             "what is the temperature", "zzz unknown words 42", "café don't"]


def random_value(rng):
    """A metadata value of a random type, biased to the edges the readers must catch."""
    kind = rng.integers(0, 9)
    if kind == 0:
        return int(rng.choice([0, 1, 2, 3, 5, 12, 16, 64, 65, 65536, 65537, 2**24, 2**24 + 1, 2**31, 2**32 - 1]))
    if kind == 1:
        return I64(int(rng.choice([-1, -2**63, 2**32, 2**40, 7])))
    if kind == 2:
        return float(rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0, 0.3, 1.0, 1.5, -0.5, 3e38]))
    if kind == 3:
        return F64(float(rng.choice([np.nan, 1e300, -1e-300, 0.25, 1.0000001])))
    if kind == 4:
        return str(rng.choice(["", "intent", "lm", "O", "B-", "B-area", "x" * 300, "é\u2028"]))
    if kind == 5:
        n = int(rng.integers(0, 8))
        return [str(rng.choice(["O", "B-area", "I-area", "B-", "X-y", "<pad>", "<sod>", "", "a\tb\tc", "a\tb"]))
                for _ in range(n)]
    if kind == 6:
        return [int(x) for x in rng.integers(0, 2**32, int(rng.integers(0, 5)), dtype=np.uint64)]
    if kind == 7:
        return rng.normal(0, 1, int(rng.integers(0, 5))).astype(np.float32)
    return list(SPECIALS[: int(rng.integers(0, 7))]) + ["turn", "turn"][: int(rng.integers(0, 3))]


def random_tensor(rng):
    ndim = int(rng.integers(1, 4))
    shape = tuple(int(x) for x in rng.integers(0, 40, ndim))
    dtype = rng.choice(["f4", "i1", "i4"], p=[0.7, 0.2, 0.1])
    if dtype == "f4":
        t = rng.normal(0, 1, shape).astype(np.float32)
    else:
        t = rng.integers(-100, 100, shape).astype(dtype)
    return t


def poke_nonfinite(rng, t):
    t = t.copy()
    if t.size and t.dtype == np.float32:
        t.reshape(-1)[int(rng.integers(0, t.size))] = rng.choice([np.nan, np.inf, -np.inf])
    return t


def resized_model(rng):
    """A consistent model with other dimensions: these must load on both sides and agree."""
    kw = {"dim": int(rng.integers(1, 12)), "max_tokens": int(rng.integers(1, 20)),
          "radius": int(rng.integers(0, 5)), "bigram_buckets": int(rng.choice([0, 1, 7, 64])),
          "n_words": int(rng.integers(0, 30))}
    return random_intent_tensors(int(rng.integers(0, 1000)), **kw), kw


def mutate(rng, meta, tensors, log):
    what = int(rng.integers(0, 8))
    if what == 0:
        key = str(rng.choice(KEYS))
        meta[key] = random_value(rng)
        log.append(f"set {key}")
    elif what == 1:
        key = str(rng.choice(KEYS))
        meta.pop(key, None)
        log.append(f"drop {key}")
    elif what == 2:
        name = str(rng.choice(TENSORS))
        tensors[name] = random_tensor(rng)
        log.append(f"replace {name} by {tensors[name].dtype}{tensors[name].shape}")
    elif what == 3:
        name = str(rng.choice(TENSORS))
        tensors.pop(name, None)
        log.append(f"drop {name}")
    elif what == 4:
        name = str(rng.choice([n for n in TENSORS if n in tensors] or ["slot_b"]))
        if name in tensors:
            tensors[name] = poke_nonfinite(rng, tensors[name])
            log.append(f"non-finite in {name}")
    elif what == 5:
        name = str(rng.choice(["token_table", "slot_U", "intent_U", "slot_W"]))
        x = tensors.get(name)
        if x is not None and x.ndim == 2 and x.dtype == np.float32 and x.size:
            scale = (np.abs(x).max(axis=1) / 127.0).astype(np.float32)
            scale[scale == 0] = 1.0
            with np.errstate(invalid="ignore", divide="ignore"):   # x may hold NaN already
                tensors[name] = np.clip(np.nan_to_num(np.round(x / scale[:, None])), -127, 127).astype(np.int8)
            choice = int(rng.integers(0, 4))
            if choice == 0:
                tensors[name + ".scale"] = scale
            elif choice == 1:
                tensors[name + ".scale"] = scale[:-1]
            elif choice == 2:
                tensors[name + ".scale"] = poke_nonfinite(rng, scale)
            log.append(f"int8 {name} (scale variant {choice})")
    elif what == 6:   # a dimension key moved by one: tensors no longer fit
        key = str(rng.choice(["model.dim", "slot.radius", "tokenizer.max_tokens", "intent.bigram_buckets"]))
        if isinstance(meta.get(key), int):
            meta[key] = max(0, meta[key] + int(rng.choice([-1, 1])))
            log.append(f"{key} {meta[key]}")
    else:
        labels = meta.get("slot.labels")
        S = len(labels) if isinstance(labels, list) else 1
        tensors["slot_transitions"] = rng.normal(0, 1, (S + 1, max(1, S))).astype(np.float32)
        log.append("add slot_transitions")


def make_case(rng):
    """Returns (bytes, description)."""
    start = int(rng.integers(0, 4))
    log = []
    if start == 0:
        (meta, tensors), kw = resized_model(rng)
        log.append(f"resized {kw}")
    elif start == 1:
        case = CASES[int(rng.integers(0, len(CASES)))]
        meta, tensors = case.build(int(rng.integers(0, 100)))
        log.append(f"table case {case.name}")
    else:
        meta, tensors = random_intent_tensors(int(rng.integers(0, 1000)))
        log.append("base")
    for _ in range(int(rng.integers(0 if start == 0 else 1, 5))):
        mutate(rng, meta, tensors, log)
    try:
        return encode_model(meta, tensors), log
    except (TypeError, ValueError) as exc:   # the writer refused (e.g. an unencodable value): skip
        return None, log + [f"writer refused: {exc}"]


def numpy_side(blob):
    """("ok", p_intent list) or ("refused", message)."""
    try:
        mf = decode_model(blob, "<bytes>")
        layout = check_intent_model(mf)
    except ModelFormatError as exc:
        return "refused", str(exc)
    ref = IntentReference(mf, layout)
    vocab = Vocabulary(layout.vocab)
    outs = []
    for s in SENTENCES:
        ids, _ = vocab.encode(s, layout.max_tokens)
        try:
            outs.append(ref.forward(ids))
        except ModelFormatError as exc:   # finite weights overflowing float32 on this input
            if not str(exc).startswith(OVERFLOW):
                raise
            outs.append(None)
    return "ok", outs


def core_side(core, blob):
    try:
        m = core.IntentModel.from_bytes(blob)
    except (core.FormatError, core.ShapeError) as exc:
        return "refused", str(exc)
    outs = []
    for s in SENTENCES:
        try:
            m.predict(s)
            p_intent, p_slot = m.forward(m.encode(s))
        except core.FormatError as exc:
            if not str(exc).startswith(OVERFLOW):
                raise
            outs.append(None)
            continue
        outs.append((np.asarray(p_intent), np.asarray(p_slot)))
    return "ok", outs


def compare(a, b):
    """None if the two sides agree, else the reason."""
    if a[0] != b[0]:
        return f"numpy {a[0]} ({a[1] if a[0] == 'refused' else 'loaded'}), core {b[0]} " \
               f"({b[1] if b[0] == 'refused' else 'loaded'})"
    if a[0] == "refused":
        return None if a[1] == b[1] else f"messages differ: numpy {a[1]!r}, core {b[1]!r}"
    for out_n, out_c in zip(a[1], b[1]):
        if out_n is None or out_c is None:   # an overflow refused on one side: float32 vs double sums
            continue
        (pi_n, ps_n), (pi_c, ps_c) = out_n, out_c
        for x in (pi_n, ps_n, pi_c, ps_c):
            if not np.all(np.isfinite(x)):
                return "non-finite probabilities from a file both loaded"
        if pi_n.shape != pi_c.shape or ps_n.shape != ps_c.shape:
            return f"shapes differ: {pi_n.shape}/{ps_n.shape} vs {pi_c.shape}/{ps_c.shape}"
        if not (np.allclose(pi_n, pi_c, atol=1e-3) and np.allclose(ps_n, ps_c, atol=1e-3)):
            return f"probabilities differ by {max(np.abs(pi_n - pi_c).max(), np.abs(ps_n - ps_c).max(initial=0)):.3g}"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case-seconds", type=float, default=10.0, help="a case slower than this is a hang")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--memory-mb", type=int, default=3072, help="address-space limit of this process")
    args = ap.parse_args(argv)
    if args.memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_mb << 20, resource.RLIM_INFINITY))
    try:
        from safu import _core as core
    except ImportError:
        core = None
        print("safu._core is not built: checking the numpy side alone")
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    counts = {"cases": 0, "skipped": 0, "both_loaded": 0, "both_refused": 0, "failures": 0}
    messages, slowest = set(), (0.0, "")
    for i in range(args.cases):
        if args.max_seconds and time.perf_counter() - start > args.max_seconds:
            break
        blob, log = make_case(rng)
        if blob is None:
            counts["skipped"] += 1
            continue
        counts["cases"] += 1
        t0 = time.perf_counter()
        try:
            a = numpy_side(blob)
            b = core_side(core, blob) if core else a
            problem = compare(a, b)
        except Exception:   # noqa: BLE001 - anything but the two refusals is a bug
            a, problem = ("crash",), "exception:\n" + traceback.format_exc(limit=6)
        took = time.perf_counter() - t0
        if took > slowest[0]:
            slowest = (took, "; ".join(log))
        if took > args.case_seconds:
            problem = (problem + "; " if problem else "") + f"took {took:.1f} s (a hang)"
        if problem:
            counts["failures"] += 1
            print(f"FAIL case {i}: {'; '.join(log)}\n  {problem}")
        elif a[0] == "ok":
            counts["both_loaded"] += 1
        else:
            counts["both_refused"] += 1
            messages.add(" ".join(a[1].split(": ", 1)[-1].split()[:3]))   # e.g. "tensor 'slot_W' has"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cases {counts['cases']} (writer refused {counts['skipped']}): both loaded and agreed "
          f"{counts['both_loaded']}, both refused with the same message {counts['both_refused']} "
          f"({len(messages)} kinds), failures {counts['failures']}; "
          f"{time.perf_counter() - start:.1f} s, slowest case {slowest[0]:.2f} s, peak RSS {peak_mb:.0f} MB")
    return 1 if counts["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
