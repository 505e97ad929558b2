"""`safu data`: see what the training-input loaders make of your files, before training.

    safu data sentences-en/                         # report, examples per intent, a few samples
    safu data sentences-en/ --show 20 --seed 3      # more samples
    safu data sentences-en/ --export expanded.jsonl # every example as JSONL (safu train reads it back)
    safu data sentences-en/ --match "turn on the kitchen lights"   # which templates generate it
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("data", help="show (or export) the examples safu would train on",
                       description="Load training data as `safu train` does and print the loader's report, "
                                   "the number of examples per intent and a few random examples.",
                       epilog='example: safu data sentences-en/ --match "turn on the kitchen lights"')
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--inventory", metavar="YAML", help="device inventory filling {name} {area} {floor}")
    p.add_argument("--max-per-intent", type=int, default=None, metavar="N",
                   help="sentences per intent (templates default to 2000; lists are not capped unless given)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=5, metavar="N", help="random examples to print (default 5)")
    p.add_argument("--export", metavar="OUT.jsonl", help="write every example as JSONL")
    p.add_argument("--match", metavar="TEXT", action="append", default=[],
                   help="list the Home Assistant templates' (intent, slots) readings of TEXT (repeatable)")
    p.set_defaults(func=cmd_data)


def example_to_json(example) -> dict:
    """The JSONL record of an Example (jsonl.py reads it back to the same Example)."""
    record = {"text": example.text, "intent": example.intent}
    spanned = {s.name: {"text": example.text[s.start:s.end], "value": s.value, "start": s.start}
               for s in example.slots if not s.fixed}
    fixed = {s.name: s.value for s in example.slots if s.fixed}
    if spanned:
        record["slots"] = spanned
    if fixed:
        record["fixed"] = fixed
    return record


def write_jsonl(path: str | Path, examples) -> None:
    """Writes examples atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for e in examples:
                f.write(json.dumps(example_to_json(e), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_data(args) -> int:
    from safu.runtime.datasets import load_examples

    ds = load_examples(args.data, inventory=args.inventory,
                       max_sentences_per_intent=args.max_per_intent, seed=args.seed)
    for line in ds.report:
        print(line)
    counts: dict[str, int] = {}
    for e in ds.examples:
        key = e.intent if e.intent is not None else "(out of scope)"
        counts[key] = counts.get(key, 0) + 1
    print(f"examples per intent ({len(counts)}):")
    for intent, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:7,}  {intent}")
    rng = random.Random(args.seed)
    for e in rng.sample(ds.examples, min(args.show, len(ds.examples))):
        slots = ", ".join(f"{s.name}={s.value!r}" + ("" if s.fixed else f" [{e.text[s.start:s.end]}]")
                          for s in e.slots)
        print(f"  {e.intent}: {e.text}" + (f"  ({slots})" if slots else ""))
    if args.export:
        write_jsonl(args.export, ds.examples)
        print(f"wrote {len(ds.examples):,} examples to {args.export}")
    if args.match:
        _print_matches(args, args.match)
    return 0


def _print_matches(args, sentences: list[str]) -> None:
    from safu.runtime.datasets.common import load_yaml
    from safu.runtime.datasets.home_assistant import is_home_assistant, read_home_assistant
    from safu.runtime.datasets.inventory import load_inventory
    from safu.runtime.datasets.load import _files, is_inventory

    files, inventories = [], []
    for path, _explicit in _files(args.data):
        if path.suffix.lower() in (".yaml", ".yml"):
            doc = load_yaml(path)
            if is_home_assistant(doc):
                files.append((path, doc))
            elif is_inventory(doc):
                inventories.append(path)
    if not files:
        print("--match: no Home Assistant templates among DATA")
        return
    # The same inventory load_examples uses: named, else found among DATA, else the sample home.
    inventory = args.inventory or (inventories[0] if inventories else None)
    templates = read_home_assistant(files, load_inventory(inventory))
    for text in sentences:
        readings = sorted({(i, json.dumps(s, sort_keys=True)) for i, s in templates.match(text)})
        print(f"match {text!r}: " + ("not generated by any template" if not readings else ""))
        for intent, slots in readings:
            print(f"  {intent} {slots}")
