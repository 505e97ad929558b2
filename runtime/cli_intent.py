"""`safu train | predict | eval | inspect`: the intent-model subcommands."""
from __future__ import annotations

import argparse
import json
import os
import sys

from safu.runtime.datasets import DEFAULT_MAX_SENTENCES_PER_INTENT
from safu.runtime.progress import Progress


def register(sub) -> None:
    p = sub.add_parser("train", help="train an intent model from sentences",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train an intent + slot model. DATA: Home Assistant intent folders/YAML, "
                                   "Rhino YAML, JSONL, CSV, SNIPS folders.",
                       epilog="training options for --set KEY=VALUE (default, meaning):\n"
                              + config_options_help()
                              + "\n\nexamples:\n  safu train my_intents/ -o home.safu\n"
                                "  safu train coffee_maker.yaml -o coffee.safu --max-sentences 5000 --seed 1\n"
                                "  safu train data.jsonl -o m.safu --set slot_radius=3 --set smoothing=0.1")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safu")
    p.add_argument("--inventory", metavar="YAML", help="device inventory filling {name} {area} {floor}")
    p.add_argument("--max-sentences", type=int, default=None, metavar="N",
                   help="at most N sentences per intent: templates (Rhino, Home Assistant) are sampled to N, "
                        "listed examples (JSONL, CSV, SNIPS) capped at N (default: templates give "
                        f"{DEFAULT_MAX_SENTENCES_PER_INTENT:,} per intent, or more when needed to cover every "
                        "alternative and slot value once; listed examples are all used)")
    p.add_argument("--seed", type=int, default=None, help="seed of sentence sampling and training (default 0)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="leave out bad JSONL lines / CSV rows (reported: how many, and the first few) "
                        "instead of stopping at the first")
    p.add_argument("--polish", type=int, default=None, metavar="EPOCHS",
                   help="backprop polish epochs after the explicit fit (polish_epochs; default 0: explicit only)")
    p.add_argument("--bits", type=int, default=None, help="bit-cipher width d (cipher_bits; default 32)")
    p.add_argument("--bigram-buckets", type=int, default=None,
                   help="hashed bigram features (bigram_buckets; 0 = none; default 4096)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="tokens read per utterance (max_tokens; default 48)")
    p.add_argument("--slot-radius", type=int, default=None, metavar="R",
                   help="slot tagger window of 2R+1 tokens (slot_radius; default 2)")
    p.add_argument("--none-class", action=argparse.BooleanOptionalAction, default=None,
                   help="fit an explicit <none> intent on out-of-scope sentences (none_class; default: on "
                        "when the data has one intent, else off)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="any training option below (repeatable); named flags win over --set")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict intent and slots for sentences",
                       epilog='example: safu predict default "turn on the kitchen lights"')
    p.add_argument("model", metavar="MODEL", help="a .safu file, or 'default' for the built-in model")
    p.add_argument("text", nargs="+", metavar="TEXT", help="sentences; '-' reads lines from stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"])
    p.add_argument("--area", metavar="AREA", help="where the command was heard (a satellite's area): "
                                                  "fills the area of commands such as 'turn on the lights'")
    p.add_argument("--floor", metavar="FLOOR", help="the floor the command was heard on")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="evaluate a model on labelled data",
                       description="Scores a model on labelled data (any training format); metrics are "
                                   "defined in docs/evaluation.md. Examples whose intent is null or not one "
                                   "of the model's are out of scope: correct only if rejected.",
                       epilog="example: safu eval home.safu test.jsonl --json --errors rows.jsonl")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--inventory", metavar="YAML")
    p.add_argument("--json", action="store_true")
    p.add_argument("--errors", metavar="FILE.jsonl",
                   help="write one JSON line per example: text, expected, predicted (null when rejected), "
                        "best_intent, confidence, rejected, correct, expected/predicted slots")
    p.add_argument("--max-sentences", type=int, default=None, metavar="N",
                   help="at most N sentences per intent (templates are sampled; see safu train --help)")
    p.add_argument("--seed", type=int, default=0, help="seed of template sampling (default 0)")
    p.add_argument("--skip-invalid", action="store_true", help="leave out bad JSONL lines / CSV rows")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("inspect", help="show a model file's header, metadata and tensors (checks CRCs)",
                       epilog="example: safu inspect home.safu")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)


def _config_fields() -> dict:
    from dataclasses import fields

    from safu.models.intent_model import IntentConfig

    defaults = IntentConfig()
    return {f.name: getattr(defaults, f.name) for f in fields(IntentConfig)}


def _config_comments() -> dict[str, str]:
    """The comment beside each IntentConfig field in its source (the dataclass documents itself)."""
    import inspect
    import re

    from safu.models.intent_model import IntentConfig

    try:
        source = inspect.getsource(IntentConfig)
    except (OSError, TypeError):
        return {}
    found = {m.group(1): m.group(2).strip()
             for m in re.finditer(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.*)$", source, re.M)}
    found.setdefault("seed", "seed of the training noise and held-out split (--seed also seeds sampling)")
    return found


def config_options_help() -> str:
    comments = _config_comments()
    lines = []
    for name, default in _config_fields().items():
        text = f"  {name}={_format_value(default)}"
        lines.append(f"{text:28s} {comments.get(name, '')}".rstrip())
    return "\n".join(lines)


def _format_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parse_setting(item: str, defaults: dict):
    """KEY=VALUE -> (key, typed value); ValueError naming the key and what was expected."""
    key, sep, raw = item.partition("=")
    key, raw = key.strip().replace("-", "_"), raw.strip()
    if not sep or not key:
        raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set slot_radius=3")
    if key not in defaults:
        raise ValueError(f"--set {key}: unknown training option; expected one of {', '.join(defaults)}")
    default = defaults[key]
    try:
        if isinstance(default, bool):
            words = {"true": True, "1": True, "yes": True, "on": True,
                     "false": False, "0": False, "no": False, "off": False}
            if raw.lower() not in words:
                raise ValueError
            return key, words[raw.lower()]
        if isinstance(default, int):
            return key, int(raw)
        if isinstance(default, float):
            return key, float(raw)
        return key, raw
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(type(default), "a value")
        raise ValueError(f"--set {key}={raw}: expected {kind} (default {_format_value(default)})") from None


def _none_class_chosen(args) -> bool:
    """True if the user set none_class (flag or --set); otherwise train() decides."""
    return getattr(args, "none_class", None) is not None or any(
        item.partition("=")[0].strip().replace("-", "_") == "none_class" for item in args.settings)


def _config(args):
    from safu.models.intent_model import IntentConfig

    defaults = _config_fields()
    values = {}
    for item in getattr(args, "settings", None) or []:
        key, value = _parse_setting(item, defaults)
        values[key] = value
    named = {"polish_epochs": getattr(args, "polish", None), "cipher_bits": args.bits,
             "bigram_buckets": args.bigram_buckets, "max_tokens": args.max_tokens,
             "slot_radius": getattr(args, "slot_radius", None), "none_class": getattr(args, "none_class", None),
             "seed": args.seed}
    values.update({k: v for k, v in named.items() if v is not None})
    config = IntentConfig(**values)
    try:
        config.validate()
    except ValueError as exc:
        raise ValueError(f"{exc} (training option; see safu train --help)") from None
    return config


def cmd_train(args) -> int:
    from safu.runtime.api import train

    config = _config(args)
    if args.max_sentences is not None and args.max_sentences < 1:
        raise ValueError(f"--max-sentences {args.max_sentences}: expected a positive number of sentences "
                         "per intent")
    with Progress() as progress:
        model = train(args.data, output=args.output, config=config, inventory=args.inventory,
                      progress=progress.step, max_sentences_per_intent=args.max_sentences,
                      skip_invalid=args.skip_invalid, auto_none_class=not _none_class_chosen(args))
    for line in model.stats.get("report", []):
        print(line)
    size = os.path.getsize(args.output)
    print(f"trained {args.output}: {model.stats['examples']} examples, {len(model.intents)} intents, "
          f"{len(model.slot_labels) // 2} slots, vocabulary {len(model.vocab)}, "
          f"{model.stats['seconds']:.2f} s, {size / 1024:.1f} KiB, out-of-scope threshold {model.threshold:.3f}"
          + (f", polished {model.stats['polish_epochs_run']} epochs" if model.config.polish_epochs else ""))
    return 0


def _texts(args):
    for t in args.text:
        if t == "-":
            yield from (line.rstrip("\n") for line in sys.stdin)
        else:
            yield t


def cmd_predict(args) -> int:
    from safu.runtime.api import load

    model = load(args.model, backend=args.backend)
    context = {k: v for k, v in (("area", args.area), ("floor", args.floor)) if v}
    if context and model.answers is None:
        print(f"note: {args.model} has no Home Assistant answer tables (trained from other data); "
              "--area/--floor are not used", file=sys.stderr)
    for text in _texts(args):
        p = model.predict(text, context=context or None)
        if args.json:
            print(json.dumps({"text": p.text, "intent": p.intent, "confidence": round(p.confidence, 6),
                              "slots": p.slots, "reason": p.reason}, ensure_ascii=False))
        else:
            slots = " ".join(f"{k}={v}" for k, v in p.slots.items())
            head = p.intent if p.intent else f"null ({p.reason})"
            print(f"{head}\t{p.confidence:.3f}\t{slots}")
    return 0


def cmd_eval(args) -> int:
    from safu.runtime.api import load
    from safu.runtime.datasets import load_examples
    from safu.runtime.datasets.load import check_output_not_input
    from safu.runtime.evaluate import evaluate, label_warning

    if args.max_sentences is not None and args.max_sentences < 1:
        raise ValueError(f"--max-sentences {args.max_sentences}: expected a positive number of sentences "
                         "per intent")
    if args.errors:
        check_output_not_input(args.errors, args.data)
    model = load(args.model, backend=args.backend)
    data = load_examples(args.data, inventory=args.inventory, max_sentences_per_intent=args.max_sentences,
                         seed=args.seed, skip_invalid=args.skip_invalid)
    for line in data.report:
        if line.startswith(("warning", "skipped")):
            print(line, file=sys.stderr)
    rows: list | None = [] if args.errors else None
    with Progress() as progress:
        report = evaluate(model, data.examples, progress, records=rows.append if rows is not None else None)
    warning = label_warning(report, model.intents)
    if warning:
        print(warning, file=sys.stderr)
    if rows is not None:
        _write_jsonl(args.errors, rows)
    if args.json:
        print(json.dumps(report))
        return 0
    for key, value in report.items():
        if key == "unknown_intents":
            continue
        print(f"{key:22s} {value:.4f}" if isinstance(value, float) else f"{key:22s} {value}")
    if rows is not None:
        wrong = sum(not r["correct"] for r in rows)
        print(f"wrote {args.errors}: {len(rows):,} examples, {wrong:,} with the wrong intent or acceptance")
    return 0


def _write_jsonl(path: str, rows: list[dict]) -> None:
    """One JSON object per line, written to a temp file next to `path` and renamed."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_inspect(args) -> int:
    """Exit 0 when the file loads, 1 when it is a sound container that no backend loads."""
    from safu.export.intent_check import check_model_file
    from safu.export.model_file import ModelFormatError, read_model_file
    from safu.runtime.api import DEFAULT_MODEL

    path = DEFAULT_MODEL if args.model == "default" else args.model
    mf = read_model_file(path)  # verifies header, metadata and every tensor CRC
    try:  # the backends' checks: keys, types, ranges, shapes, finite weights
        check, problem = check_model_file(mf, str(path)), None
    except ModelFormatError as exc:
        check, problem = None, str(exc)
    if args.json:
        def plain(v):  # JSON has no NaN/inf: such a metadata float is shown as its name, "nan"
            v = v.tolist() if hasattr(v, "tolist") else v
            if isinstance(v, list):
                return [plain(x) for x in v]
            return str(v) if isinstance(v, float) and (v != v or abs(v) == float("inf")) else v

        meta = {k: plain(v) for k, v in mf.metadata.items()}
        tensors = {k: {"dtype": str(t.dtype), "shape": list(t.shape)} for k, t in mf.tensors.items()}
        print(json.dumps({"path": str(path), "version": mf.version, "metadata": meta, "tensors": tensors,
                          "check": {"ok": problem is None, "summary": check, "error": problem}}, allow_nan=False))
        return 0 if problem is None else 1
    print(f"{path}: safu model file v{mf.version}, {os.path.getsize(path)} bytes, all checksums OK")
    print(f"model check: OK ({check})" if problem is None else
          f"model check: FAILED: {problem}")
    print("metadata:")
    for key, value in mf.metadata.items():
        if isinstance(value, list) and len(value) > 8:
            shown = ", ".join(map(str, value[:8])).replace("\t", " -> ")
            value = f"[{shown}, ...] ({len(value)} entries)"
        print(f"  {key:32s} {value}")
    print("tensors:")
    total = 0
    for name, t in mf.tensors.items():
        total += t.nbytes
        print(f"  {name:16s} {str(t.dtype):8s} {'x'.join(map(str, t.shape)):>14s} {t.nbytes:>10,d} bytes")
    print(f"  {'total':16s} {'':8s} {'':>14s} {total:>10,d} bytes")
    return 0 if problem is None else 1
