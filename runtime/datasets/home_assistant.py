"""Home Assistant intent templates (the hassil YAML format of github.com/home-assistant/intents).

    from safu.runtime.datasets.home_assistant import load_home_assistant
    examples, report = load_home_assistant([path, ...], inventory=None, cap=2000, seed=0)

What is read, per file (all files of one load are one language and share their definitions):
- top level `lists`, `expansion_rules`, `skip_words` (usually in _common.yaml);
- `intents: {Name: {data: [block, ...]}}`, or `data: [block, ...]` alone, in which case the intent
  is the name of the file's folder (the `sentences/en/HassTurnOn/*.yaml` layout);
- per block: `sentences`, `slots` (fixed slots), `inferred_domain` (fixed slot `domain`),
  `expansion_rules` (local), `requires_context` / `excludes_context` / `name_domains` (restrict
  which inventory entities fill {name}). `response`, `required_keywords`, `metadata` only matter
  to a matcher's responses and are ignored.
Lists: `values` (strings, or {in, out} where `in` is itself a template such as "light[s]"),
`range` (from, to, step, fractions halves/tenths; numbers as digits and as words), `wildcard`
(filled with a few plausible samples). {name}, {area}, {floor} come from the inventory
(default: the sample home shipped in safu/runtime/data/sample_inventory.yaml). A slot that only
`values` lists fill is a closed list (stored as `slot.closed`, models/slot_values.py); wildcards,
ranges and inventory names are open.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import DataError, line_of, require, type_name
from .expand import TemplateSentence, closed_slots, expand_templates, format_count, match_sentence, sampling_note
from .inventory import Inventory, load_inventory
from .numbers import format_number, number_words
from .template import (Alt, Grammar, ListRef, ListValue, RuleRef, SlotList, TemplateError, Text,
                       parse_template, walk)

# Fraction of sampled sentences that get one of the language's skip words ("please", "can you").
SKIP_WORD_RATE = 0.05

# Plausible fillers for wildcard lists (free text in Home Assistant). Keyed by list name.
WILDCARD_SAMPLES = {
    "shopping_list_item": ["milk", "eggs", "bread", "apples", "coffee beans", "paper towels",
                           "olive oil", "dish soap"],
    "todo_list_item": ["call the plumber", "water the plants", "pay the bills", "laundry",
                       "buy a birthday present", "clean the garage"],
    "zone": ["home", "work", "school", "the gym", "the office"],
    "timer_name": ["pizza", "pasta", "laundry", "tea", "eggs", "homework"],
    # Delayed commands. Deliberately not "turn on/off ..." phrasing: with those, a word-level
    # tagger learns that "turn off" is a conversation_command slot in every intent.
    "timer_command": ["check the oven", "take out the laundry", "water the plants"],
    "message": ["dinner is ready", "time to go to school", "the movie is starting"],
    "search_query": ["jazz", "the beatles", "taylor swift", "relaxing music", "the news",
                     "abbey road"],
}
GENERIC_WILDCARD = ["something", "the blue one", "my list"]
# Random phrases added to every wildcard list: words of general English that no template says, so
# that what is learnt is the wildcard's position ("play ... on the TV"), not a few example words,
# and a title never seen in training is still a title.
WILDCARD_FILLERS = 40
FILLER_RANKS = (100, 15000)   # frequency ranks of the general-English words fillers are drawn from
GENERAL_WORDS = Path(__file__).resolve().parent.parent / "data" / "general_english.npz"
# Words a random filler never holds: profanity, and words naming a religion or ethnicity that random
# combinations could make offensive. Training sentences are shown to users (safu eval --errors).
FILLER_BLOCKLIST = Path(__file__).resolve().parent.parent / "data" / "filler_blocklist.txt"

# requires_context/excludes_context keys that are entity attributes (others, like area: {slot: true},
# describe the satellite and do not restrict {name}).
ENTITY_CONTEXT_KEYS = ("domain", "device_class")


def is_home_assistant(doc) -> bool:
    """True if a parsed YAML document looks like a hassil sentence or definitions file."""
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("intents"), dict) or isinstance(doc.get("data"), list):
        return True
    return "language" in doc and any(k in doc for k in ("lists", "expansion_rules", "skip_words"))


def _parse(path: Path, src, what: str):
    if not isinstance(src, str):
        raise DataError(path, f"{what}: expected a template string, got {type_name(src)}",
                        line=line_of(src))
    try:
        return parse_template(src)
    except TemplateError as exc:
        raise DataError(path, f"{what}: {exc}", line=line_of(src)) from None


def _range_list(path: Path, name: str, spec) -> SlotList:
    if not isinstance(spec, dict):
        raise DataError(path, "expected a mapping with from and to", line=line_of(spec),
                        field=f"lists.{name}.range")
    lo = require(spec, "from", path, (int, float), "a number")
    hi = require(spec, "to", path, (int, float), "a number")
    step = spec.get("step", 1)
    if not isinstance(step, (int, float)) or step <= 0:
        raise DataError(path, "expected a positive number", line=line_of(spec),
                        field=f"lists.{name}.range.step")
    fraction_name = spec.get("fractions")
    fractions = {None: 1, "halves": 2, "tenths": 10, "quarters": 4}.get(
        fraction_name if fraction_name is None or isinstance(fraction_name, str) else "?")
    if fractions is None:
        raise DataError(path, "expected halves, tenths or quarters", line=line_of(spec),
                        field=f"lists.{name}.range.fractions")
    if (hi - lo) / step * fractions > 100_000:
        raise DataError(path, "range has more than 100,000 values", line=line_of(spec),
                        field=f"lists.{name}.range")
    values = []
    k = 0
    while lo + k * step <= hi:
        base = lo + k * step
        for f in range(fractions):
            x = base + f / fractions
            if x > hi:
                break
            digits = format_number(x)
            words = number_words(x)
            surface = Text(digits) if words is None else Alt((Text(digits), Text(words)))
            values.append(ListValue(surface, digits))
        k += 1
    return SlotList(values)


def _slot_list(path: Path, name: str, spec) -> SlotList:
    where = f"lists.{name}"
    if not isinstance(spec, dict):
        raise DataError(path, "expected a mapping with values, range or wildcard",
                        line=line_of(spec), field=where)
    if spec.get("wildcard"):
        samples = WILDCARD_SAMPLES.get(name, GENERIC_WILDCARD)
        return SlotList([ListValue(Text(s)) for s in samples], wildcard=True)
    if "range" in spec:
        return _range_list(path, name, spec["range"])
    values = spec.get("values")
    if not isinstance(values, list):
        raise DataError(path, "expected a list (or a range, or wildcard: true)",
                        line=line_of(spec), field=f"{where}.values")
    out = []
    for v in values:
        if isinstance(v, dict):
            surface = _parse(path, require(v, "in", path, str, "a template string"), f"{where} in")
            value = v.get("out")
            context = dict(v.get("context") or {})
            out.append(ListValue(surface, None if value is None else str(value), context))
        elif isinstance(v, (str, int, float)):
            out.append(ListValue(_parse(path, str(v) if not isinstance(v, str) else v, where),
                                 str(v)))
        else:
            raise DataError(path, "expected a string or {in, out}", line=line_of(v, line_of(values)),
                            field=f"{where}.values")
    return SlotList(out, closed=True)


def _as_set(value) -> set[str] | None:
    """requires_context values: a string or a list of strings (any of). Others (mappings such as
    {slot: true}) do not constrain entities: None."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    return None


def _name_list(all_names: SlotList, block: dict) -> tuple[SlotList, str | None]:
    """{name} restricted to entities the block applies to. Returns (list, relaxation note): when no
    entity of the inventory matches, device_class and then domain are dropped and a note says so,
    so the sentence shape is still learnt."""
    required: dict[str, set[str]] = {}
    for key, value in (block.get("requires_context") or {}).items():
        allowed = _as_set(value)
        if key in ENTITY_CONTEXT_KEYS and allowed is not None:
            required[key] = allowed
    if block.get("name_domains"):
        domains = set(map(str, block["name_domains"]))
        required["domain"] = required["domain"] & domains if "domain" in required else domains
    excluded: dict[str, set[str]] = {}
    for key, value in (block.get("excludes_context") or {}).items():
        banned = _as_set(value)
        if key in ENTITY_CONTEXT_KEYS and banned is not None:
            excluded[key] = banned
    if not required and not excluded:
        return all_names, None

    def select(keys) -> list[ListValue]:
        return [v for v in all_names.values
                if all(v.context.get(k) in required[k] for k in keys)
                and not any(v.context.get(k) in banned for k, banned in excluded.items())]

    keys = [k for k in ENTITY_CONTEXT_KEYS if k in required]
    chosen = select(keys)
    note = None
    while not chosen and keys:
        dropped = keys.pop()          # device_class goes first, then domain
        chosen = select(keys)
        note = f"{dropped} {'/'.join(sorted(required[dropped]))}"
    if not chosen:
        chosen = list(all_names.values)
    return SlotList(chosen), note


def _blocks(path: Path, doc: dict) -> list[tuple[str, dict]]:
    """(intent, block) pairs of a sentence file."""
    out = []
    if "intents" in doc:
        intents = doc["intents"]
        if not isinstance(intents, dict):
            raise DataError(path, "expected a mapping of intent names", line=line_of(intents),
                            field="intents")
        for intent, body in intents.items():
            data = require(body, "data", path, list, "a list of sentence blocks") \
                if isinstance(body, dict) else None
            if data is None:
                raise DataError(path, "expected a mapping with data", line=line_of(intents),
                                field=f"intents.{intent}")
            out += [(str(intent), b) for b in data]
    if isinstance(doc.get("data"), list):
        out += [(path.parent.name, b) for b in doc["data"]]
    for intent, b in out:
        if not isinstance(b, dict):
            raise DataError(path, "expected a mapping with sentences", line=line_of(b), field="data")
        require(b, "sentences", path, list, "a list of template strings")
        for key in ("slots", "requires_context", "excludes_context", "expansion_rules"):
            _check_type(path, b, key, dict, "a mapping")
        _check_type(path, b, "name_domains", list, "a list of domains")
    return out


def _check_type(path: Path, mapping: dict, key: str, kind: type, expected: str) -> None:
    """Raises DataError (file:line: field) if mapping[key] is present, not null, and not `kind`."""
    value = mapping.get(key)
    if value is not None and not isinstance(value, kind):
        raise DataError(path, f"expected {expected}, got {type_name(value)}",
                        line=line_of(value, line_of(mapping)), field=key)


@dataclass
class HomeAssistantTemplates:
    """Every sentence template of a load, resolved against one inventory."""
    sentences: list[TemplateSentence]
    skip_words: list[str]
    inventory: Inventory
    report: list[str]
    files: int
    # Per sentence (same order): its block's requires_context and excludes_context, as written
    # (area: {slot: true} means the satellite's area fills the area slot).
    contexts: list[tuple[dict, dict]] = field(default_factory=list)
    # Per sentence: its block's name_domains (the domains its {name} may be), None if it has none.
    name_domains: list[list[str] | None] = field(default_factory=list)

    def match(self, text: str) -> list[tuple[str, dict[str, str]]]:
        """(intent, slots) for every template that generates `text` (case and spacing ignored);
        slots map names to values, fixed slots included. Empty if no template generates it."""
        return match_sentence(self.sentences, text)


def read_home_assistant(files: list[tuple[Path, dict]], inventory: Inventory | None = None
                        ) -> HomeAssistantTemplates:
    """Resolves parsed hassil files into templates. Raises DataError (file:line) for templates
    that do not parse, rules that refer to themselves, and malformed lists or blocks. Sentences
    with undefined rules/lists are skipped with a warning line in .report."""
    if inventory is None:
        inventory = load_inventory()
    rules_src: dict[str, tuple[Path, object]] = {}
    lists: dict[str, SlotList] = {}
    skip_words: list[str] = []
    for path, doc in files:
        _check_type(path, doc, "expansion_rules", dict, "a mapping of rule name -> template")
        _check_type(path, doc, "lists", dict, "a mapping of list name -> values/range/wildcard")
        _check_type(path, doc, "skip_words", list, "a list of words")
        for name, src in (doc.get("expansion_rules") or {}).items():
            rules_src.setdefault(str(name), (path, src))
        for name, spec in (doc.get("lists") or {}).items():
            lists.setdefault(str(name), _slot_list(path, str(name), spec))
        skip_words += [str(w) for w in (doc.get("skip_words") or [])]
    rules = {name: _parse(path, src, f"expansion rule <{name}>") for name, (path, src) in rules_src.items()}
    fillers = _fillers([doc for _path, doc in files])
    for name, slot_list in list(lists.items()):
        if slot_list.wildcard:
            rng = random.Random(f"wildcard {name}")
            lists[name] = SlotList(slot_list.values + [ListValue(Text(f)) for f in rng.sample(fillers, min(
                WILDCARD_FILLERS, len(fillers)))], wildcard=True)
    lists.update(inventory.slot_lists())   # Home Assistant fills these from the home, not from files
    base = Grammar(rules, lists)

    sentences: list[TemplateSentence] = []
    contexts: list[tuple[dict, dict]] = []
    name_domains: list[list[str] | None] = []
    notes: dict[str, int] = {}
    undefined: list[str] = []
    n_files = 0
    for path, doc in files:
        blocks = _blocks(path, doc)
        n_files += bool(blocks)
        for intent, block in blocks:
            local = block.get("expansion_rules") or {}
            block_rules = dict(rules)
            block_rules.update({str(k): _parse(path, v, f"expansion rule <{k}>") for k, v in local.items()})
            names, note = _name_list(lists["name"], block)
            grammar = Grammar(block_rules, {**lists, "name": names}) \
                if (local or names is not lists["name"]) else base
            fixed = {str(k): str(v) for k, v in (block.get("slots") or {}).items()
                     if isinstance(v, (str, int, float))}
            if block.get("inferred_domain"):
                fixed.setdefault("domain", str(block["inferred_domain"]))
            for src in block["sentences"]:
                node = _parse(path, src, "sentence")
                missing = sorted(set(grammar.missing_references(node)))
                if any(m.endswith("(recursive)") for m in missing):
                    raise DataError(path, f"sentence {str(src)!r}: rule {missing[0]} refers to "
                                          "itself; expected rules that end", line=line_of(src))
                if missing:
                    # Skipped, not fatal: the published English set itself has a few sentences
                    # using rules (<percent>) that only newer _common.yaml files define.
                    undefined.append(f"{path}:{line_of(src)} uses {', '.join(missing)}")
                    continue
                if note and "name" in _lists_used(grammar, node):
                    notes[note] = notes.get(note, 0) + 1
                sentences.append(TemplateSentence(intent, node, grammar, fixed,
                                                  f"{path}:{line_of(src)}"))
                contexts.append((dict(block.get("requires_context") or {}),
                                 dict(block.get("excludes_context") or {})))
                name_domains.append(sorted(map(str, block["name_domains"])) if block.get("name_domains") else None)
    report = [f"inventory: {inventory.path} ({len(inventory.floors)} floors, "
              f"{len(inventory.areas)} areas, {len(inventory.entities)} entities)"]
    if undefined:
        report.append(f"warning: skipped {len(undefined)} sentences with undefined rules or lists "
                      f"(not in any expansion_rules/lists or the inventory), e.g. {undefined[0]}")
    if notes:
        shown = sorted(notes)
        report.append(f"note: {sum(notes.values())} templates need an entity the inventory lacks "
                      f"({'; '.join(shown[:4])}{f'; {len(shown) - 4} more' if len(shown) > 4 else ''}); "
                      "their {name} takes any entity of the domain (or any entity) instead")
    return HomeAssistantTemplates(sentences, skip_words, inventory, report, n_files, contexts, name_domains)


def _strings(doc):
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)


def _fillers(docs) -> list[str]:
    """Wildcard fillers: 1-3 general-English words (a quarter led by "the") that are in none of
    the files' strings. Empty when the shipped word table is missing."""
    try:
        with np.load(GENERAL_WORDS, allow_pickle=False) as f:
            words = f["words"].tobytes().decode("utf-8").split("\n")
    except (OSError, KeyError, ValueError):
        return []
    said = {w for d in docs for text in _strings(d) for w in re.findall(r"[a-z']+", text.lower())}
    pool = [w for w in words[FILLER_RANKS[0]:FILLER_RANKS[1]] if w.isalpha() and w.isascii() and w not in said]
    if not pool:
        return []
    blocked = _blocklist()
    rng = random.Random(0)
    out = set()
    while len(out) < 4 * WILDCARD_FILLERS:
        picked = [rng.choice(pool) for _ in range(rng.choice((1, 2, 2, 3)))]
        phrase = " ".join(picked)
        phrase = f"the {phrase}" if rng.random() < 0.25 else phrase
        # A blocked phrase is drawn and dropped (not removed from the pool), so every other
        # phrase is the one an unfiltered draw gives.
        if not blocked.intersection(picked):
            out.add(phrase)
    return sorted(out)


def _blocklist() -> frozenset[str]:
    """The shipped filler blocklist (one word per line, '#' comments). Raises DataError if missing:
    without it, offensive phrases would enter training silently."""
    try:
        text = FILLER_BLOCKLIST.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(FILLER_BLOCKLIST, f"cannot read the filler blocklist ({e.strerror})") from e
    return frozenset(w for line in text.splitlines() if (w := line.split("#", 1)[0].strip().lower()))


def load_home_assistant(files: list[tuple[Path, dict]], inventory: Inventory | None, cap: int,
                        seed: int = 0, strict_cap: bool = False, closed: dict | None = None
                        ) -> tuple[list, list[str]]:
    """Expands parsed hassil files into examples (sampling as expand_templates: `cap` sentences
    per intent, covering every alternative and slot value; at most `cap` with strict_cap).
    Returns (examples, report lines). Raises DataError as read_home_assistant. `closed`, when
    given, is filled with {slot: values} of the slots only `values:` lists fill (with the fixed
    values of the same slots; expand.closed_slots): not wildcards, ranges or inventory names."""
    t = read_home_assistant(files, inventory)
    examples, stats = expand_templates(t.sentences, cap, seed, t.skip_words, SKIP_WORD_RATE,
                                       strict_cap=strict_cap)
    if closed is not None:
        closed.update(closed_slots(t.sentences))
    report = [f"home assistant: {t.files} sentence files, {len(stats.per_intent)} intents, "
              f"{stats.templates:,} templates, {format_count(stats.possible)} possible sentences, "
              f"sampled {stats.produced:,} ({sampling_note(stats, cap, strict_cap)}; seed {seed})"]
    if stats.empty:
        report.append(f"note: {len(stats.empty)} templates produce no sentence because a list they "
                      f"use is empty (e.g. no floors in the inventory), e.g. {stats.empty[0]}")
    return examples, report + t.report


def _lists_used(grammar: Grammar, node, seen: frozenset = frozenset()) -> set[str]:
    out: set[str] = set()
    for n in walk(node):
        if isinstance(n, ListRef):
            out.add(n.list_name)
        elif isinstance(n, RuleRef) and n.name not in seen:
            out |= _lists_used(grammar, grammar.rule(n.name), seen | {n.name})
    return out


__all__ = ["load_home_assistant", "read_home_assistant", "is_home_assistant", "HomeAssistantTemplates"]
