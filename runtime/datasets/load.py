"""The one entry point: files and folders of any supported format -> Dataset.

    from safu.runtime.datasets import load_examples, check_trainable
    ds = load_examples(["/path/to/sentences-en"], inventory="home.yaml", max_sentences_per_intent=2000)
    check_trainable(ds)                     # ValueError unless >= 2 intents
    print("\\n".join(ds.report))

The format is chosen per file:
    .yaml/.yml  Home Assistant templates (intents:/data:/lists:/expansion_rules:), a Rhino context
                (context: expressions:), or a device inventory (floors:/areas:/entities:)
    .jsonl/.ndjson  {"text", "intent", "slots"} per line        .csv  text,intent
    .json       SNIPS ({"<Intent>": [{"data": [chunks]}]})
A folder is walked recursively (hidden files skipped). In a walked folder, files with other
extensions are ignored, YAML/JSON files of an unknown shape are skipped with a report line, and
SNIPS validate_*.json files (the test split) are left out; files named explicitly must be valid.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from .common import DataError, Dataset, Example, load_yaml, read_text
from .csv_text import load_csv
from .expand import format_count
from .home_assistant import is_home_assistant, load_home_assistant
from .inventory import Inventory, load_inventory
from .jsonl import load_jsonl
from .rhino import is_rhino, load_rhino
from .snips import FALLBACK_ENCODINGS, is_snips, load_snips_file

# Sentences per intent drawn from template formats (HA, Rhino) when the caller gives no cap:
# enough to cover every list value and phrasing many times, small enough to train in seconds.
DEFAULT_MAX_SENTENCES_PER_INTENT = 2000

SHOW_SKIPPED = 3   # invalid rows quoted in the report with skip_invalid

YAML_SUFFIXES = {".yaml", ".yml"}
KNOWN_SUFFIXES = YAML_SUFFIXES | {".jsonl", ".ndjson", ".csv", ".json"}


def is_inventory(doc) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in ("floors", "areas", "entities")) \
        and not is_home_assistant(doc) and not is_rhino(doc)


def home_assistant_files(paths) -> tuple[list, list[Path]]:
    """([(path, parsed doc)] of the Home Assistant template files, [inventory paths]) among paths."""
    from safu.runtime.datasets.common import load_yaml
    from safu.runtime.datasets.home_assistant import is_home_assistant

    files, inventories = [], []
    for path, _explicit in _files(paths):
        if path.suffix.lower() in (".yaml", ".yml"):
            doc = load_yaml(path)
            if is_home_assistant(doc):
                files.append((path, doc))
            elif is_inventory(doc):
                inventories.append(path)
    return files, inventories


def _files(paths: list[str | Path]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) in order; folders expanded recursively and sorted."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel):
                    out.append((f, False))
        elif p.is_file():
            out.append((p, True))
        else:
            raise DataError(p, "no such file or folder")
    return out


def check_output_not_input(output: str | Path, paths: list[str | Path] | str | Path) -> None:
    """Raises DataError if `output` is one of the files that `paths` would read (named, or found
    in a named folder): writing the model there would replace training data."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = Path(output)
    target = out.resolve()
    for f, _explicit in _files(list(paths)):
        if f.resolve() == target or (out.exists() and f.exists() and out.samefile(f)):
            raise DataError(output, f"the output file is one of the training inputs ({f}); "
                                    "choose another output path (e.g. model.safu)")


def _cap_examples(examples: list[Example], cap: int, seed: int) -> list[Example]:
    """At most `cap` examples per intent, a seeded uniform sample that keeps the file order."""
    by_intent: dict[str | None, list[int]] = {}
    for i, e in enumerate(examples):
        by_intent.setdefault(e.intent, []).append(i)
    keep = set()
    for intent, idx in by_intent.items():
        if len(idx) > cap:
            idx = random.Random(f"{seed}:{intent}").sample(idx, cap)
        keep.update(idx)
    return [e for i, e in enumerate(examples) if i in keep]


def load_examples(paths: list[str | Path] | str | Path, inventory: str | Path | None = None,
                  max_sentences_per_intent: int | None = None, seed: int = 0,
                  skip_invalid: bool = False) -> Dataset:
    """Loads training examples from files and folders (formats above).

    inventory: a device inventory YAML for Home Assistant templates; default: one found among the
        paths, else the sample home shipped in the package.
    max_sentences_per_intent: cap per intent. Template formats always sample: by default
        DEFAULT_MAX_SENTENCES_PER_INTENT per intent, or more when an intent needs more to cover
        every alternative and slot value once; a given cap is never exceeded (covering sentences
        are kept first). Listed examples (JSONL, CSV, SNIPS) are only capped when this is given.
    seed: makes sampling reproducible.
    skip_invalid: a bad JSONL line or CSV row is left out instead of stopping the load; the
        report says how many and shows the first few (Dataset.skipped has them all).
    Returns a Dataset (examples in a deterministic order, report lines). Raises DataError (a
    ValueError) naming file/line/field for any bad input, and when nothing is found.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if max_sentences_per_intent is not None and max_sentences_per_intent < 1:
        raise ValueError(f"max_sentences_per_intent must be >= 1, got {max_sentences_per_intent}")
    template_cap = max_sentences_per_intent or DEFAULT_MAX_SENTENCES_PER_INTENT
    strict_cap = max_sentences_per_intent is not None   # the default cap yields to the covering set
    ds = Dataset()
    listed: list[Example] = []
    ha_files: list[tuple[Path, dict]] = []
    found_inventory: list[Path] = []
    ignored: list[Path] = []
    skipped_validate = 0
    unknown: list[str] = []
    skipped: list[str] | None = [] if skip_invalid else None
    grammar_closed: list[tuple[list[Example], dict]] = []   # (a grammar's examples, its closed slots)

    for path, explicit in _files(list(paths)):
        suffix = path.suffix.lower()
        if suffix not in KNOWN_SUFFIXES:
            if explicit:
                raise DataError(path, f"unsupported file type {suffix or '(none)'!r}; expected "
                                      ".yaml/.yml, .jsonl, .csv or SNIPS .json")
            ignored.append(path)
            continue
        if suffix in YAML_SUFFIXES:
            doc = load_yaml(path)
            if is_home_assistant(doc):
                ha_files.append((path, doc))
            elif is_rhino(doc):
                closed: dict = {}
                examples, report = load_rhino(path, doc, template_cap, seed, strict_cap, closed)
                grammar_closed.append((examples, closed))
                ds.examples += examples
                ds.report += report
            elif is_inventory(doc):
                found_inventory.append(path)
            elif explicit:
                raise DataError(path, "unrecognised YAML; expected Home Assistant templates "
                                      "(intents: or data:), a Rhino context (context: expressions:) "
                                      "or an inventory (floors/areas/entities)", line=1)
            else:
                unknown.append(str(path))
        elif suffix in (".jsonl", ".ndjson"):
            examples, report = load_jsonl(path, skipped)
            listed += examples
            ds.report += report
        elif suffix == ".csv":
            examples, report = load_csv(path, skipped)
            listed += examples
            ds.report += report
        else:   # .json
            if not explicit and path.name.startswith("validate_"):
                skipped_validate += 1
                continue
            if not explicit:
                try:
                    shape_ok = is_snips(json.loads(read_text(path, FALLBACK_ENCODINGS)[0]))
                except (ValueError, DataError):
                    shape_ok = False
                if not shape_ok:
                    unknown.append(str(path))
                    continue
            examples, report = load_snips_file(path)
            listed += examples
            ds.report += report

    if ha_files:
        inv: Inventory | None = None
        if inventory is not None:
            inv = load_inventory(inventory)
        elif found_inventory:
            inv = load_inventory(found_inventory[0])
        closed = {}
        examples, report = load_home_assistant(ha_files, inv, template_cap, seed, strict_cap, closed)
        grammar_closed.append((examples, closed))
        ds.examples += examples
        ds.report += report
    elif inventory is not None:
        load_inventory(inventory)   # still validate what the user named
        ds.report.append(f"inventory {inventory} not used: no Home Assistant templates")

    if listed and max_sentences_per_intent is not None:
        before = len(listed)
        listed = _cap_examples(listed, max_sentences_per_intent, seed)
        ds.report.append(f"listed examples: kept {len(listed):,} of {before:,} "
                         f"(at most {max_sentences_per_intent:,} per intent, seed {seed})")
    ds.examples += listed
    ds.closed_slots = merge_closed_slots(grammar_closed, ds.examples)
    if ds.closed_slots:
        ds.report.append(f"closed-list slots: {len(ds.closed_slots)} ("
                         + ", ".join(f"{k} {len(v)}" for k, v in ds.closed_slots.items()) + " values)")

    if skipped:
        ds.skipped = skipped
        ds.report.append(f"skipped {len(skipped):,} invalid rows (--skip-invalid), first: "
                         + "; ".join(skipped[:SHOW_SKIPPED]) + (" ..." if len(skipped) > SHOW_SKIPPED else ""))
    if skipped_validate:
        ds.report.append(f"left out {skipped_validate} SNIPS validate_*.json files (test split; "
                         "name them or use load_snips(folder, split='validate'))")
    if unknown:
        ds.report.append(f"skipped {len(unknown)} files of unknown shape: {', '.join(unknown[:5])}"
                         + (" ..." if len(unknown) > 5 else ""))
    if ignored:
        ds.report.append(f"ignored {len(ignored)} files with other extensions")
    if not ds.examples:
        raise DataError(", ".join(map(str, paths)), "no training examples found; expected Home "
                        "Assistant/Rhino YAML, JSONL, CSV or SNIPS JSON")
    ds.report.append(f"total: {len(ds.examples):,} examples, {len(ds.intents)} intents, "
                     f"{sum(len(e.spanned_slots) for e in ds.examples):,} slot spans")
    return ds


def merge_closed_slots(sources: list[tuple[list[Example], dict]], examples: list[Example]) -> dict:
    """{slot: sorted values} of the slots closed in every grammar whose examples have them, the
    lists joined. A slot is open when a grammar that has it does not close it, when a listed
    example (JSONL, CSV, SNIPS: annotated free text) has it, or when any training example gives it
    a value off the list (closed_key), so that the check never refuses a training sentence."""
    from safu.models.slot_values import closed_key

    values: dict[str, set] = {}
    open_slots: set[str] = set()
    own = set()
    for exs, closed in sources:
        own.update(id(e) for e in exs)
        names = {s.name for e in exs for s in e.slots}
        open_slots |= names - set(closed)
        for slot, vals in closed.items():
            values.setdefault(slot, set()).update(vals)
    for e in examples:
        if id(e) not in own:
            open_slots.update(s.name for s in e.slots)
    keys = {slot: {closed_key(v) for v in vals} for slot, vals in values.items()}
    for e in examples:
        for s in e.slots:
            if s.name in keys and s.name not in open_slots and closed_key(s.value) not in keys[s.name]:
                open_slots.add(s.name)
    return {slot: sorted(vals) for slot, vals in sorted(values.items()) if slot not in open_slots}


def check_trainable(dataset: Dataset) -> None:
    """Raises DataError (ValueError) unless the dataset has at least two intents, each with at
    least one example; the message lists what was found."""
    intents = dataset.intents
    if not dataset.examples:
        raise DataError(None, "no examples; a model needs sentences for at least 2 intents")
    if len(intents) < 2:
        found = f"only {intents[0]!r}" if intents else "none (all examples are out of scope)"
        raise DataError(None, f"a model needs at least 2 intents to tell apart, found {found}; "
                              "add sentences for another intent")


__all__ = ["load_examples", "check_trainable", "check_output_not_input", "DEFAULT_MAX_SENTENCES_PER_INTENT",
           "format_count"]
