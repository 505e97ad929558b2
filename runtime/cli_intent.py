"""`safu train | predict | eval | inspect`: the intent-model subcommands."""
from __future__ import annotations

import json
import os
import sys

from safu.runtime.progress import Progress


def register(sub) -> None:
    p = sub.add_parser("train", help="train an intent model from sentences",
                       description="Train an intent + slot model. DATA: Home Assistant intent folders/YAML, "
                                   "Rhino YAML, JSONL, CSV, SNIPS folders.",
                       epilog="example: safu train my_intents/ -o home.safu")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safu")
    p.add_argument("--inventory", metavar="YAML", help="device inventory filling {name} {area} {floor}")
    p.add_argument("--polish", type=int, default=0, metavar="EPOCHS",
                   help="backprop polish epochs after the explicit fit (default 0: explicit only)")
    p.add_argument("--bits", type=int, default=None, help="bit-cipher width d (default 32)")
    p.add_argument("--bigram-buckets", type=int, default=None, help="hashed bigram features (0 = none)")
    p.add_argument("--max-tokens", type=int, default=None, help="tokens read per utterance (default 48)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="predict intent and slots for sentences",
                       epilog='example: safu predict default "turn on the kitchen lights"')
    p.add_argument("model", metavar="MODEL", help="a .safu file, or 'default' for the built-in model")
    p.add_argument("text", nargs="+", metavar="TEXT", help="sentences; '-' reads lines from stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"])
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="evaluate a model on labelled data",
                       epilog="example: safu eval home.safu test.jsonl --json")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--inventory", metavar="YAML")
    p.add_argument("--json", action="store_true")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("inspect", help="show a model file's header, metadata and tensors (checks CRCs)",
                       epilog="example: safu inspect home.safu")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)


def _config(args):
    from safu.models.intent_model import IntentConfig

    config = IntentConfig(polish_epochs=args.polish, seed=args.seed)
    if args.bits is not None:
        config.cipher_bits = args.bits
    if args.bigram_buckets is not None:
        config.bigram_buckets = args.bigram_buckets
    if args.max_tokens is not None:
        config.max_tokens = args.max_tokens
    return config


def cmd_train(args) -> int:
    from safu.runtime.api import train

    progress = Progress()
    model = train(args.data, output=args.output, config=_config(args), inventory=args.inventory,
                  progress=progress.step)
    progress.close()
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
    for text in _texts(args):
        p = model.predict(text)
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
    from safu.runtime.evaluate import evaluate

    model = load(args.model, backend=args.backend)
    data = load_examples(args.data, inventory=args.inventory)
    progress = Progress()
    report = evaluate(model, data.examples, progress)
    progress.close()
    if args.json:
        print(json.dumps(report))
        return 0
    for key, value in report.items():
        print(f"{key:18s} {value:.4f}" if isinstance(value, float) else f"{key:18s} {value}")
    return 0


def cmd_inspect(args) -> int:
    from safu.export.model_file import read_model_file
    from safu.runtime.api import DEFAULT_MODEL

    path = DEFAULT_MODEL if args.model == "default" else args.model
    mf = read_model_file(path)  # verifies header, metadata and every tensor CRC
    if args.json:
        meta = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in mf.metadata.items()}
        tensors = {k: {"dtype": str(t.dtype), "shape": list(t.shape)} for k, t in mf.tensors.items()}
        print(json.dumps({"path": str(path), "version": mf.version, "metadata": meta, "tensors": tensors}))
        return 0
    print(f"{path}: safu model file v{mf.version}, {os.path.getsize(path)} bytes, all checksums OK")
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
    return 0
