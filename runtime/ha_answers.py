"""Answers in Home Assistant's shape: a model's prediction completed with what HA's intent
handlers need, from the templates and the inventory the model was trained with.

    from safu.runtime.ha_answers import HomeAssistantAnswers
    answers = HomeAssistantAnswers.from_templates(["sentences/en"], inventory)   # or .from_json(...)
    p = answers.answer(model.predict("turn on the lights"), context={"area": "Kitchen"})
    p.slots    # {'domain': 'light', 'area': 'Kitchen'}

What a template-matching HA answer has and a word tagger cannot give, and how it is recovered:
- Wordless slots: a block's fixed `slots:` (`domain: light`, `device_class: window`) and the slots
  its `requires_context: {area: {slot: true}}` takes from the satellite. Each template's pair
  (fixed slots, context slots) is an *answer class*; a table fitted from sampled template
  sentences (Bernoulli naive Bayes, counts only) picks the class from the intent, the slots that
  have words, the other words of the sentence and the domain/device class of the entity named.
  As in HA's matcher, a class is only taken with an entity its templates' requires_context /
  excludes_context / name_domains admit ("light up the living room" is no binary sensor
  "Light"), and a class whose templates can say the sentence pair of neighbouring words by pair
  is preferred (HA needs every word of a template: "is light detected" is the sensor Light).
- Inventory names: a span is widened to the whole entity, area or floor name around it, an entity
  name wins over an area word inside it ("bedroom lamp" is the entity Bedroom Lamp, not area
  Bedroom + "lamp"), a name the inventory lacks is read as the one inventory name it is a near
  miss of (vowels or doubled letters different, one letter off, words in another order: "living
  rum"), and otherwise it is rejected (intent None with a reason) for intents whose slot only
  ever takes inventory names.
- Template wordings the model rejected: accepted when every word and every pair of neighbouring
  words is one the intent's templates can say (HA's skip phrases left out whole).
- Per-intent values: a surface's value is looked up per (intent, slot, surface, answer class),
  then (intent, slot, surface), then the model's own value ("open" is `state: open` for covers
  and `on` for windows of binary sensors).
"""
from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from safu.runtime.datasets.inventory import Inventory, load_inventory

INVENTORY_SLOTS = ("name", "area", "floor")   # filled from the inventory's {name}/{area}/{floor}
SAMPLES_PER_TEMPLATE = 200   # sampled sentences per template for the tables (all if it has fewer)
MIN_FEATURE_COUNT = 2        # features seen once in a class are left out of the stored tables
NB_PRIOR = 4.0               # weight, in sentences, of the intent-wide feature frequency in a class's estimate
FILL_PENALTY = 1.0           # log-score cost of a slot found in the words rather than by the model
DROP_PENALTY = 6.0           # log-score cost of leaving out a span the model found (about a strong word: log of a class size)
MODEL_LABEL_BONUS = 1.0      # a number keeps the slot the model gave it unless its neighbours disagree
NUMERIC_SHARE = 0.3          # a slot takes spoken numbers if this share of its training surfaces are numbers
ACCEPT_FLOOR = 0.5           # a rejected prediction in template words is accepted from this confidence up
THRESHOLD_REASON = "out of scope: confidence"   # api.Prediction.reason of a below-threshold rejection
AROUND_PRIOR = 5.0           # weight, in sentences, of the intent-wide neighbour frequency for one slot
FREE_TEXT_FLOOR = -3.0       # free text is taken only where its neighbours score above this (log ratio)
FREE_TEXT_WORDS = 8          # longest free-text slot value found in the words
FOREIGN_SHARE = 0.3          # an answer no tagged slot supports is out of scope when this share of its
FOREIGN_WORDS = 2            # words, and at least this many, are in no template ("what is the capital of france")
SCORE_MARGIN = 12.0          # classes scoring this far below the best answer so far are not tried
WORDING_BONUS = 8.0          # an answer whose class's templates can say the sentence word pair by word pair
CONTEXT_BONUS = 6.0          # a command heard by a satellite that names no place is about its area
LOOKUP_PENALTY = 3.0         # cost of a name found by lookup only whose words the intent's templates say anyway
SPECIFIC_INTENTS = 2         # a rejected sentence read as free text needs a word this few intents say
FREE_NAME_COST = 1.5         # anchor words a free-text run loses per inventory name or slot word it holds
ANCHOR_WORDS = 3             # a free-text slot is placed by up to this many template words either side of it
NEAR_NAME_WORDS = 5          # longest inventory name (words) matched by near spellings in any order
JSON_VERSION = 1
_WORD = re.compile(r"[\w']+")
_DECIMAL = re.compile(r"\d+\.\d+")
_NUMBER_OR_WORD = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|[\w']+")   # "20.5" is one number


def _norm(s: str) -> str:
    return " ".join(_WORD.findall(s.lower()))


def _phrase_pattern(phrase: str) -> str:
    """A regex for the words of a normalised phrase, whole words, any spacing or punctuation
    between them."""
    return r"(?<![\w'])" + r"[\s\W]+".join(map(re.escape, phrase.split())) + r"(?![\w'])"


def _is_number(w: str) -> bool:
    return w.replace(".", "", 1).isdigit()


class _Names:
    """Inventory names as lower-case word sequences: entity, area and floor names and aliases."""

    def __init__(self, inventory: Inventory):
        self.canonical: dict[str, dict[str, str]] = {k: {} for k in INVENTORY_SLOTS}
        self.entities: dict[str, list] = defaultdict(list)
        self._patterns: dict[str, list] = {}
        for e in inventory.entities:
            for s in [e.name, *e.aliases]:
                self.canonical["name"].setdefault(_norm(s), e.name)
            self.entities[_norm(e.name)].append(e)
            for s in getattr(e, "spellings", ()):   # a spelling is its own value ("Trader Joes")
                self.canonical["name"].setdefault(_norm(s), s)
                self.entities[_norm(s)].append(e)
        for kind, places in (("area", inventory.areas), ("floor", inventory.floors)):
            for p in places:
                for s in [p.name, *p.aliases]:
                    self.canonical[kind].setdefault(_norm(s), p.name)

    def find(self, kind: str, text: str) -> list[tuple[int, int, str]]:
        """(start, end, canonical) of every whole-word occurrence of a `kind` name in text
        (overlapping ones included: "kitchen" inside "kitchen switch")."""
        if kind not in self._patterns:
            # a name may take a possessive ("what is Mistral's speed")
            self._patterns[kind] = [(re.compile(_phrase_pattern(surface)[:-len(r"(?![\w'])")] + r"(?![\w]|'(?!s\b))"), canonical)
                                    for surface, canonical in self.canonical[kind].items() if surface]
        low = text.lower()
        return [(m.start(), m.end(), canonical) for pattern, canonical in self._patterns[kind]
                for m in pattern.finditer(low)]

    def near(self, kind: str, words: list[str]) -> str | None:
        """The one `kind` name (canonical) said as these words in any order, each word the name's
        own or a near spelling of it (_near_word): "living rum", "room living" -> Living Room.
        None when no name or more than one fits."""
        if not words or len(words) > NEAR_NAME_WORDS:
            return None
        found = set()
        for surface, canonical in self.canonical[kind].items():
            target = surface.split()
            if len(target) != len(words) or canonical in found:
                continue
            left = list(target)
            for w in words:
                j = next((j for j, t in enumerate(left) if w == t), None)
                if j is None:
                    j = next((j for j, t in enumerate(left) if _near_word(w, t)), None)
                if j is None:
                    break
                del left[j]
            else:
                found.add(canonical)
        return next(iter(found)) if len(found) == 1 else None

    def entity_features(self, name: str) -> set[str]:
        out = set()
        for e in self.entities.get(_norm(name), []):
            out.add(f"domain={e.domain}")
            if e.device_class:
                out.add(f"class={e.device_class}")
        return out


def _skeleton(word: str) -> str:
    """A word's consonant skeleton: its first letter, then its consonants with doubled letters
    written once ("door", "dur" -> "dr"; "bedroom", "bedrum" -> "bdrm")."""
    out = word[:1]
    for c in word[1:]:
        if c not in "aeiouy" and c != out[-1]:
            out += c
    return out


def _edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _near_word(said: str, name_word: str) -> bool:
    """A recogniser's or typist's near miss of a word of a name: same first letter, and the same
    consonant skeleton within two letters' edits (vowels and doubled letters differ: "rum" for
    "room", not "france" for "furnace") or, from four letters, one letter off ("curtainz")."""
    if said[:1] != name_word[:1] or len(said) < 3 or len(name_word) < 3 or not said.isalpha():
        return False
    edits = _edits(said, name_word)
    return (_skeleton(said) == _skeleton(name_word) and edits <= 2) or (min(len(said), len(name_word)) >= 4 and edits <= 1)


def _features(text: str, spans, names: _Names, free=()) -> set[str]:
    """Words outside inventory-name and free-text spans (numbers as <num>), <slot> markers for
    those spans, the named entity's domain/device class and the words of its name. `free`: the
    names of free-text (wildcard) slots, whose words say nothing about the sentence's class."""
    masked = list(text.lower())
    out = set()
    for name, value, a, b, *_found in spans:
        if name in free:
            masked[a:b] = " " * (b - a)
            out.add(f"<{name}>")
        elif name in INVENTORY_SLOTS:
            masked[a:b] = " " * (b - a)
            out.add(f"<{name}>")
            if name == "name":   # its words too: "gas" is an entity and a device class
                out |= names.entity_features(value)
                out |= {f"name:{w}" for w in _WORD.findall(text[a:b].lower())}
    words = ["<num>" if _number(w) is not None else w for w in _WORD.findall("".join(masked))]
    out.update(words)
    out.update(f"{a}+{b}" for a, b in zip(words, words[1:]))   # word pairs: "<num>+minutes"
    return out


@lru_cache(maxsize=65536)
def _number(surface: str) -> str | None:
    """The digits of a spoken or written number ("five" -> "5", "21" -> "21"), else None."""
    from safu.runtime.datasets.numbers import digit_form

    if _DECIMAL.fullmatch(surface.strip()):
        return surface.strip()   # "20.5" (_norm would split it at the point)
    d = digit_form(_norm(surface))
    return d if _is_number(d) else None


def _neighbours(text: str, a: int, b: int) -> tuple[str, str]:
    """The words just before and just after text[a:b] ("" at the ends), numbers as <num>."""
    left = _WORD.findall(text[:a].lower())
    right = _WORD.findall(text[b:].lower())
    word = lambda ws: "" if not ws else ("<num>" if _number(ws) is not None else ws)  # noqa: E731
    return word(left[-1] if left else ""), word(right[0] if right else "")


def _marked_tokens(text: str, spans, free=()) -> list[tuple[int, int, str]]:
    """(start, end, token) of the words of text: an inventory-name span is one <name>/<area>/
    <floor> token, a free-text span one <free>, numbers <num>, other words as they are."""
    out = []
    marked = [(sp[2], sp[3], f"<{sp[0]}>" if sp[0] in INVENTORY_SLOTS else "<free>") for sp in spans
              if sp[0] in INVENTORY_SLOTS or sp[0] in free]
    for m in _WORD.finditer(text.lower()):
        span = next((x for x in marked if x[0] <= m.start() < x[1]), None)
        if span is None:
            out.append((m.start(), m.end(), "<num>" if _number(m.group()) is not None else m.group()))
        elif not out or out[-1][:2] != span[:2]:
            out.append(span)
    return out


def _anchor_grams(tokens, a: int, b: int, skip=()) -> tuple[list[str], list[str]]:
    """The 1..ANCHOR_WORDS-token contexts left and right of text[a:b] ("<s>"/"</s>" at the
    ends; trailing skip phrases such as "please" or "for me" left out on the right). `skip`:
    the skip phrases as word lists."""
    left = ["<s>"] + [t for s, e, t in tokens if e <= a]
    right = [t for s, e, t in tokens if s >= b]
    trimmed = True
    while right and trimmed:
        trimmed = False
        for phrase in skip:
            if phrase and right[-len(phrase):] == list(phrase):
                del right[-len(phrase):]
                trimmed = True
                break
    right.append("</s>")
    return ([" ".join(left[-k:]) for k in range(1, min(ANCHOR_WORDS, len(left)) + 1)],
            [" ".join(right[:k]) for k in range(1, min(ANCHOR_WORDS, len(right)) + 1)])


def _slot_lists(grammar, node, seen=frozenset()) -> set[tuple[str, str]]:
    """(slot name, list name) pairs a template uses, through its rules."""
    from safu.runtime.datasets.template import ListRef, RuleRef, walk

    out = set()
    for n in walk(node):
        if isinstance(n, ListRef):
            out.add((n.slot_name, n.list_name))
        elif isinstance(n, RuleRef) and n.name not in seen:
            out |= _slot_lists(grammar, grammar.rule(n.name), seen | {n.name})
    return out


def _word_pairs(grammar, node, memo: dict) -> tuple[frozenset, frozenset, frozenset, bool]:
    """(first words, last words, neighbouring word pairs "a+b", can be empty) of every expansion
    of a template, computed on its tree (not on samples): inventory lists ({name}, {area},
    {floor}) are left out as the answer layer leaves names out, numbers are <num>."""
    from safu.runtime.datasets.template import Alt, ListRef, RuleRef, Seq, Text

    # rules and lists are shared: remembered (nodes made on the way by _word_groups are not)
    key = ("rule", node.name) if isinstance(node, RuleRef) else \
        ("list", node.list_name, node.slot_name) if isinstance(node, ListRef) else None
    if key in memo:
        return memo[key]
    if key is not None:
        memo[key] = (frozenset(), frozenset(), frozenset(), True)   # a rule met again inside itself
    if isinstance(node, Text):
        words = ["<num>" if _number(w) is not None else w for w in _WORD.findall(node.text.lower())]
        out = (frozenset(words[:1]), frozenset(words[-1:]), frozenset(f"{a}+{b}" for a, b in zip(words, words[1:])),
               not words)
    elif isinstance(node, (Seq, Alt, ListRef)):
        if isinstance(node, ListRef) and grammar.slot_list(node.list_name).wildcard:
            memo[key] = out = (frozenset({"<*>"}), frozenset({"<*>"}), frozenset({"<*>+<*>"}), False)
            return out   # free text: any words ("<*>")
        if isinstance(node, ListRef):
            children = [] if node.slot_name in INVENTORY_SLOTS or node.list_name in INVENTORY_SLOTS else \
                [v.surface for v in grammar.slot_list(node.list_name).values]
            parts = [_word_pairs(grammar, c, memo) for c in children] or [(frozenset(), frozenset(), frozenset(), True)]
        elif isinstance(node, Seq):
            parts = [_word_pairs(grammar, c, memo) for c in _word_groups(grammar, node.items)]
        else:
            parts = [_word_pairs(grammar, c, memo) for c in node.options]
        if isinstance(node, Seq):
            first, last, pairs, empty = set(), set(), set(), True
            for f, l, p, e in parts:
                pairs |= p | {f"{a}+{b}" for a in last for b in f}
                first |= f if empty else set()
                last = set(l) | (last if e else set())
                empty = empty and e
            out = (frozenset(first), frozenset(last), frozenset(pairs), empty)
        else:
            out = (frozenset().union(*(x[0] for x in parts)), frozenset().union(*(x[1] for x in parts)),
                   frozenset().union(*(x[2] for x in parts)), any(x[3] for x in parts))
    else:   # RuleRef
        out = _word_pairs(grammar, grammar.rule(node.name), memo)
    if key is not None:
        memo[key] = out
    return out


def _raw(pieces) -> str:
    """An expansion's text as written, spaces kept (render() trims them)."""
    return "".join(p if isinstance(p, str) else _raw(p.pieces) for p in pieces)


GLUE_EXPANSIONS = 64   # a word written in pieces ("sensor[s]", "window[s]") is spelt out up to this many ways


def _word_groups(grammar, items) -> list:
    """The items of a sequence regrouped at its spaces: a word written in pieces ("sensor" +
    "[s]") becomes one Alt of its spellings, so that every Text below holds whole words."""
    from safu.runtime.datasets.template import Alt, ListRef, Text

    groups: list[list] = [[]]
    for it in items:
        if isinstance(it, Text):
            for part in re.split(r"(\s+)", it.text):
                if not part:
                    continue
                if part.isspace():
                    groups.append([])
                else:
                    groups[-1].append(part)
        else:
            groups[-1].append(it)
    out = []
    for g in groups:
        if not g:
            continue
        if len(g) == 1:
            out.append(Text(g[0]) if isinstance(g[0], str) else g[0])
            continue
        spellings = [""]
        for piece in g:
            if isinstance(piece, str):
                options = [piece]
            elif isinstance(piece, ListRef) and (piece.slot_name in INVENTORY_SLOTS or piece.list_name in INVENTORY_SLOTS):
                options = [" "]
            elif grammar.count(piece) <= GLUE_EXPANSIONS:
                options = [_raw(p) for p in grammar.enumerate(piece)]
            else:
                options = None
            if options is None or len(spellings) * len(options) > GLUE_EXPANSIONS:
                out += [Text(x) if isinstance(x, str) else x for x in g]   # too many: piece by piece
                break
            spellings = [a + b for a in spellings for b in options]
        else:
            out.append(Alt(tuple(Text(x) for x in dict.fromkeys(spellings))))
    return out


ASSIGNMENTS = 4096   # candidate combinations tried when best-first leaves a slot without words


def _best_assignment(candidates, slots) -> list | None:
    """The non-overlapping choice of one candidate (score, slot, start, end, ...) per slot with
    the highest total score; None if there is none or too many combinations to try."""
    per = [sorted((c for c in candidates if c[1] == s), key=lambda c: -c[0]) for s in slots]
    if not all(per) or math.prod(len(p) for p in per) > ASSIGNMENTS:
        return None
    best = None
    for combo in itertools.product(*per):
        if any(x[2] < y[3] and y[2] < x[3] for i, x in enumerate(combo) for y in combo[i + 1:]):
            continue
        total = sum(c[0] for c in combo)
        if best is None or total > best[0]:
            best = (total, list(combo))
    return None if best is None else best[1]


def _value_table(values: dict[str, Counter]) -> dict[str, str]:
    """The most frequent value per (intent, slot, surface) and, where a class says otherwise,
    per (intent, slot, surface, class). A surface that is its own value (or its digits) is
    left out: the words said are then the value."""
    def own(key: str, value: str) -> bool:
        surface = key.split("|")[2]
        return _norm(value) == surface or _number(surface) == value

    best = {k: v.most_common(1)[0][0] for k, v in values.items()}
    out = {k: v for k, v in best.items() if k.count("|") == 2 and not own(k, v)}
    for k, v in best.items():
        if k.count("|") > 2 and v != best[k[:k.index("|", k.index("|", k.index("|") + 1) + 1)]]:
            out[k] = v
    return out


def _context_values(rule: dict) -> dict:
    """{key: [values]} of a requires_context / excludes_context mapping: the keys given as a
    string or a list of strings (domain: cover, device_class: [curtain, blind]); {slot: true}
    entries, which take a value rather than constrain one, are left out."""
    out = {}
    for k, v in (rule or {}).items():
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[str(k)] = [str(v)]
        elif isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
            out[str(k)] = sorted(map(str, v))
    return out


def _class_key(spanned, fixed: dict, context_slots) -> str:
    return json.dumps([sorted(spanned), sorted(fixed.items()), sorted(context_slots)])


class HomeAssistantAnswers:
    """Answer tables of one template set and inventory (see the module docstring)."""

    def __init__(self, inventory: Inventory, tables: dict):
        self.inventory = inventory
        self.names = _Names(inventory)
        self.tables = tables
        self._background: dict[str, dict[str, float]] = {}
        self._gazetteers: dict[str, re.Pattern | None] = {}
        self._words: dict[str, set[str]] = {}
        self._wildcard = set(tables["wildcard"])
        self._intent_slots: dict[str, set[str]] = {}
        self._specific: Counter | None = None
        self._anchors = {k: set(v) for k, v in tables.get("anchors", {}).items()}
        self._around_all: dict[tuple[str, str], Counter] = {}
        self._surfaces = {k: set(v) for k, v in tables["surfaces"].items()}
        self._pairs: dict[str, set[str]] = {}
        self._near_cache: dict[tuple[str, str], list] = {}
        # HA's skip words are phrases ("for me", "can you"), left out whole; tables without them
        # have the words only, each taken as a phrase
        phrases = tables.get("skip_phrases")
        self._skip = sorted((p.split() for p in (phrases if phrases is not None else tables.get("skip_words", []))),
                            key=lambda p: (-len(p), p))
        self._skip_pattern = re.compile("|".join(_phrase_pattern(" ".join(p)) for p in self._skip)) if self._skip else None

    # -- fitting -------------------------------------------------------------------------------
    @classmethod
    def from_templates(cls, paths, inventory: Inventory | str | Path | None = None,
                       seed: int = 0) -> "HomeAssistantAnswers":
        """Fits the tables from Home Assistant template files/folders (as safu train reads them)
        and the inventory (an Inventory, a path, or None: one among the paths, else the sample
        home). Raises DataError when the paths hold no Home Assistant templates."""
        from safu.runtime.datasets.common import DataError

        answers = cls.for_training(paths, inventory, seed)
        if answers is None:
            paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
            raise DataError(paths[0] if paths else None, "no Home Assistant template files found; "
                            "expected hassil YAML (intents: or data:)")
        return answers

    @classmethod
    def for_training(cls, paths, inventory: Inventory | str | Path | None = None,
                     seed: int = 0) -> "HomeAssistantAnswers | None":
        """As from_templates, None when the training inputs hold no Home Assistant templates."""
        from safu.runtime.datasets.home_assistant import read_home_assistant
        from safu.runtime.datasets.load import home_assistant_files

        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        files, inventories = home_assistant_files(paths)
        if not files:
            return None
        if not isinstance(inventory, Inventory):
            inventory = load_inventory(inventory if inventory is not None or not inventories else inventories[0])
        return cls.fit(read_home_assistant(files, inventory), seed)

    @classmethod
    def fit(cls, templates, seed: int = 0) -> "HomeAssistantAnswers":
        """Tables from a read_home_assistant() result, counted over sampled template sentences."""
        from safu.runtime.datasets.template import render

        names = _Names(templates.inventory)
        classes: dict[str, Counter] = defaultdict(Counter)      # intent -> answer class -> count
        feats: dict[str, Counter] = defaultdict(Counter)        # "intent|class" -> feature -> count
        values: dict[str, Counter] = defaultdict(Counter)       # "intent|slot|surface[|class]" -> value
        surfaces: dict[str, set] = defaultdict(set)             # "intent|slot" -> surfaces said
        around: dict[str, Counter] = defaultdict(Counter)       # "intent|slot" -> L=word / R=word
        kinds: dict[str, Counter] = defaultdict(Counter)        # "intent|slot" -> number/text/known/unknown
        wildcard: set[str] = set()
        anchors: dict[str, Counter] = defaultdict(Counter)      # "intent|class|slot" -> L=words / R=words
        rng = random.Random(seed)
        # slot names that hold a list somewhere in the intent ("state" is a zone only in "is Ada
        # at {zone:state}") are not free text in the features
        listed = {(s.intent, slot) for s in templates.sentences for slot, list_name in _slot_lists(s.grammar, s.node)
                  if not s.grammar.slot_list(list_name).wildcard}
        rules: dict[str, set] = defaultdict(set)                # "intent|class" -> its templates' context rules
        pairs: dict[str, set] = defaultdict(set)                # intent -> neighbouring words ("a+b") said
        words_said: dict[str, set] = defaultdict(set)           # intent -> every word its templates can say
        class_pairs: dict[str, set] = defaultdict(set)          # "intent|class" -> the pairs its templates can say
        bigram_memo: dict[int, dict] = {}
        domains_of = templates.name_domains or [None] * len(templates.sentences)
        for s, (requires, _excludes), name_domains in zip(templates.sentences, templates.contexts, domains_of):
            n = s.grammar.count(s.node)
            if n == 0:
                continue
            free_text = {slot for slot, list_name in _slot_lists(s.grammar, s.node)
                         if s.grammar.slot_list(list_name).wildcard}
            first, last, said, _empty = _word_pairs(s.grammar, s.node, bigram_memo.setdefault(id(s.grammar), {}))
            pairs[s.intent] |= said
            words_said[s.intent] |= first | last | {w for p in said for w in p.split("+")}
            context_slots = [k for k, v in requires.items() if isinstance(v, dict) and v.get("slot")]
            # a block's name_domains: the domains its {name} may be (entities only, not the satellite)
            rule = json.dumps([_context_values(requires), _context_values(_excludes)]
                              + ([name_domains] if name_domains else []), sort_keys=True)
            keys: dict[frozenset, str] = {}
            pieces_list = s.grammar.enumerate(s.node) if n <= SAMPLES_PER_TEMPLATE else \
                [s.grammar.sample(s.node, rng) for _ in range(SAMPLES_PER_TEMPLATE)]
            for pieces in pieces_list:
                text, spans = render(pieces)
                spans = [(name, value if value is not None else text[a:b], a, b)
                         for name, value, a, b in spans if b > a]
                spanned = frozenset(sp[0] for sp in spans)
                key = keys.get(spanned)
                if key is None:
                    key = keys[spanned] = _class_key(spanned, {k: v for k, v in s.fixed.items() if k not in spanned},
                                                     [k for k in context_slots if k not in spanned])
                    class_pairs[f"{s.intent}|{key}"] |= said
                classes[s.intent][key] += 1
                rules[f"{s.intent}|{key}"].add(rule)
                wildcard.update(f"{s.intent}|{key}|{slot}" for slot in free_text & spanned)
                feats[f"{s.intent}|{key}"].update(_features(
                    text, spans, names, {n for n in free_text if (s.intent, n) not in listed}))
                tokens = None
                for name, _value, a, b in spans:
                    if name in free_text:
                        tokens = tokens or _marked_tokens(text, [sp for sp in spans if sp[0] != name], free_text)
                        left, right = _anchor_grams(tokens, a, b)
                        anchors[f"{s.intent}|{key}|{name}"].update([f"L={g}" for g in left] + [f"R={g}" for g in right])
                for name, value, a, b in spans:
                    slot = f"{s.intent}|{name}"
                    surface = _norm(text[a:b])
                    if name not in INVENTORY_SLOTS:
                        values[f"{slot}|{surface}"][value] += 1
                        values[f"{slot}|{surface}|{key}"][value] += 1
                    left, right = _neighbours(text, a, b)
                    around[slot].update((f"L={left}", f"R={right}"))
                    if _number(surface) is not None:   # a number's neighbours, apart from words ("half")
                        around[f"{slot}|#"].update((f"L={left}", f"R={right}"))
                    kinds[slot]["number" if _number(surface) is not None else "text"] += 1
                    if name in INVENTORY_SLOTS:
                        kinds[slot]["known" if _norm(value) in names.canonical[name] else "unknown"] += 1
                    elif name not in free_text:
                        surfaces[slot].add(surface)
        index = {i: {p: n for n, p in enumerate(sorted(v))} for i, v in pairs.items()}
        tables = {
            "version": JSON_VERSION,
            "classes": {k: dict(v) for k, v in classes.items()},
            # a feature every sentence of its class has is kept however small the class ("is
            # anything vibrating" is a class of one sentence)
            "features": {k: {f: n for f, n in v.items()
                             if n >= MIN_FEATURE_COUNT or n == classes[k.split("|", 1)[0]][k.split("|", 1)[1]]}
                         for k, v in feats.items()},
            "values": _value_table(values),
            "surfaces": {k: sorted(v) for k, v in surfaces.items()},
            "around": {k: dict(v) for k, v in around.items()},
            # number slots; slots whose every training value is an inventory name; free-text slots
            # (wildcard lists) per class
            "numeric": sorted(k for k, v in kinds.items() if v["number"] >= NUMERIC_SHARE * (v["number"] + v["text"])),
            "inventory_only": sorted(k for k, v in kinds.items() if v.get("known") and not v.get("unknown")),
            "wildcard": sorted(wildcard),
            "anchors": {k: sorted(v) for k, v in anchors.items()},
            # requires_context / excludes_context values (domain, device_class, ...) of the
            # templates of each class that has any; a class whose every template admits any
            # context is left out
            "context_rules": {k: sorted(v) for k, v in rules.items() if '[{}, {}]' not in v},
            "skip_words": sorted({w for phrase in templates.skip_words for w in _WORD.findall(phrase.lower())}),
            "skip_phrases": sorted({_norm(phrase) for phrase in templates.skip_words if _norm(phrase)}),
            # every pair of neighbouring words the intent's templates can say (names left out)
            "pairs": {k: sorted(v) for k, v in pairs.items()},
            # per class, the positions in its intent's "pairs" of the pairs its templates can say
            "class_pairs": {k: [index[k.split("|", 1)[0]][p] for p in sorted(v)] for k, v in class_pairs.items()},
            "words": {k: sorted(v - {"<*>", "<num>"}) for k, v in words_said.items()},
        }
        return cls(templates.inventory, tables)

    # -- storage ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        inv = self.inventory
        return json.dumps({"tables": self.tables, "inventory": {
            "floors": [vars(f) for f in inv.floors], "areas": [vars(a) for a in inv.areas],
            "entities": [vars(e) for e in inv.entities]}}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> "HomeAssistantAnswers":
        """The tables as to_json() wrote them (`source` names the file in errors)."""
        from safu.runtime.datasets.inventory import Entity, Place

        try:
            doc = json.loads(text)
            version = doc["tables"]["version"]
            inv = doc["inventory"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}: metadata ha.answers: not Home Assistant answer tables ({exc})") from None
        if version != JSON_VERSION:
            raise ValueError(f"{source}: metadata ha.answers: table version {version!r}, expected {JSON_VERSION}")
        inventory = Inventory([Place(**f) for f in inv["floors"]], [Place(**a) for a in inv["areas"]],
                              [Entity(**e) for e in inv["entities"]], "(stored in the model)")
        return cls(inventory, doc["tables"])

    # -- tables ----------------------------------------------------------------------------------
    def _scores(self, intent: str, features: set[str]) -> list[tuple[float, str]]:
        """(log-score, class) per answer class of the intent, best first: naive Bayes over the
        features the intent's templates have, log prior + sum of log p(feature | class), with
        p smoothed towards the feature's frequency over all the intent's classes (a class with
        few sentences is not favoured for what it has not seen)."""
        if intent not in self._background:
            counts = self.tables["classes"].get(intent, {})
            total_f: Counter = Counter()
            for c in counts:
                total_f.update(self.tables["features"].get(f"{intent}|{c}", {}))
            n_all = sum(counts.values())
            self._background[intent] = {f: (k + 0.5) / (n_all + 1.0) for f, k in total_f.items()}
        background = self._background[intent]
        present = [(f, background[f]) for f in features if f in background]
        out = [(self._class_score(intent, c, present), c) for c in self.tables["classes"].get(intent, {})]
        out.sort(key=lambda r: (-r[0], r[1]))
        return out

    def _class_score(self, intent: str, c: str, present) -> float:
        counts = self.tables["classes"][intent]
        n = counts[c]
        fc = self.tables["features"].get(f"{intent}|{c}", {})
        denominator = math.log(n + NB_PRIOR)
        return math.log(n / sum(counts.values())) + sum(math.log(fc.get(f, 0) + NB_PRIOR * p) - denominator
                                                        for f, p in present)

    def _template_words(self, intent: str) -> set[str]:
        """Words the intent's templates say outside any inventory name ("house", "everywhere")."""
        if intent not in self._words:
            words = set(self.tables.get("words", {}).get(intent, ()))
            for c in self.tables["classes"].get(intent, {}):
                words |= {f for f in self.tables["features"].get(f"{intent}|{c}", {})
                          if not any(ch in f for ch in "=+:<")}
            self._words[intent] = words
        return self._words[intent]

    def _foreign_words(self, intent: str, text: str, spans=()) -> tuple[int, int]:
        """(words in no template of the intent, words), inventory names, numbers and the words of
        `spans` (slot values, free text included) left out."""
        masked = list(self._without_skip(text.lower()))
        for sp in spans:
            masked[sp[2]:sp[3]] = " " * (sp[3] - sp[2])
        for kind in INVENTORY_SLOTS:
            for a, b, _v in self.names.find(kind, text):
                masked[a:b] = " " * (b - a)
        words = [w for w in _WORD.findall("".join(masked)) if _number(w) is None]
        known = self._template_words(intent)
        return sum(w not in known for w in words), len(words)

    def _without_skip(self, low: str) -> str:
        """Lower-case text with HA's skip phrases ("please", "could you", "for me") blanked out
        (same length: positions still index the sentence)."""
        if self._skip_pattern is None:
            return low
        return self._skip_pattern.sub(lambda m: " " * (m.end() - m.start()), low)

    def _in_template_words(self, pred) -> bool:
        """A prediction the model rejected for its confidence alone, whose every word is one the
        best intent's templates (or HA's skip words) say, or part of an inventory name: the
        sentence is a template wording, accepted. Chit-chat has words no template has."""
        intent = pred.best_intent
        if intent is None or not (pred.reason or "").startswith(THRESHOLD_REASON) \
                or pred.confidence < ACCEPT_FLOOR or not self.tables["classes"].get(intent):
            return False
        foreign, words = self._foreign_words(intent, pred.text)
        return words > 0 and foreign == 0 and self._in_template_pairs(intent, pred.text)

    def _in_template_pairs(self, intent: str, text: str) -> bool:
        """Every two neighbouring words of the sentence (inventory names left out, numbers as
        <num>, HA's skip phrases left out) are neighbours in some template of the intent (a
        word may be free text, "<*>", throughout): a template wording, not template words in another order ("who are you" is not "who made
        you" / "are you always listening"). A name whose words are template words may be either
        ("turn every light on": the words, not the binary sensor Light). True for tables without
        word pairs."""
        pairs = self.tables.get("pairs", {}).get(intent)
        if pairs is None:
            return True
        if intent not in self._pairs:
            self._pairs[intent] = set(pairs)
        found = []
        for a, b, _v in sorted((m for kind in INVENTORY_SLOTS for m in self.names.find(kind, text)),
                               key=lambda m: (m[0] - m[1], m[0])):
            if not any(a < y and x < b for x, y in found):
                found.append((a, b))
        for low in dict.fromkeys((self._without_skip(text.lower()), text.lower())):
            for keep in itertools.product((False, True), repeat=min(len(found), 6)):
                masked = list(low)
                for (a, b), kept in zip(found, keep + (False,) * len(found)):
                    if not kept:
                        masked[a:b] = " " * (b - a)
                words = ["<num>" if _number(w) is not None else w for w in _WORD.findall("".join(masked))]
                if self._pairs_said(self._pairs[intent], words):
                    return True
        return False

    def _class_says(self, intent: str, cls: str, text: str, kept) -> bool:
        """The class's templates can say the sentence as the answer reads it, pair of neighbouring
        words by pair (its names left out, numbers as <num>, skip phrases left out or not), as
        HA's matcher needs every word of a template ("is light detected": the sensor Light in
        "is <name> detected", not "are any lights detected")."""
        positions = self.tables.get("class_pairs", {}).get(f"{intent}|{cls}")
        if positions is None:
            return False
        key = f"{intent}|{cls}"
        if key not in self._pairs:
            every = self.tables["pairs"][intent]
            self._pairs[key] = {every[n] for n in positions}
        free = [k for k in kept if f"{intent}|{cls}|{k[0]}" in self._wildcard]
        for low in dict.fromkeys((self._without_skip(text.lower()), text.lower())):
            masked = list(low)
            for k in kept:
                if k[0] in INVENTORY_SLOTS:
                    masked[k[2]:k[3]] = " " * (k[3] - k[2])
            words = []   # a free-text value is one "<*>"; no other word is free text
            for m in _WORD.finditer("".join(masked)):
                span = next((k for k in free if k[2] <= m.start() < k[3]), None)
                if span is None:
                    words.append("<num>" if _number(m.group()) is not None else m.group())
                elif not words or words[-1] != ("<*>", span[2]):
                    words.append(("<*>", span[2]))
            words = [w[0] if isinstance(w, tuple) else w for w in words]
            if self._pairs_said(self._pairs[key], words, free_text=False):
                return True
        return False

    @staticmethod
    def _pairs_said(pairs: set[str], words: list[str], free_text: bool = True) -> bool:
        """Each word read as itself or (free_text) as free text ("<*>"), every neighbouring pair
        of readings one the templates say."""
        if not words:
            return True
        readings = {words[0], "<*>"} if free_text else {words[0]}
        for w in words[1:]:
            readings = {y for y in ((w, "<*>") if free_text else (w,)) if any(f"{x}+{y}" in pairs for x in readings)}
            if not readings:
                return False
        return True

    def _class_order(self, intent: str, text: str, spans: list[list], features: set[str], free) -> list:
        """(log-score, class) best first. A class with an entity name the model did not tag is
        scored on the sentence as it reads it, with the whole entity names of the sentence as
        names ("is gas detected": the binary sensor Gas, not the word "gas"): the words of a name
        are not words of the class's templates."""
        scored = self._scores(intent, features)
        if any(sp[0] == "name" for sp in spans):
            return scored
        named: list[list] = []
        for a, b, value in sorted(self.names.find("name", text), key=lambda m: (m[0] - m[1], m[0])):
            if not any(a < sp[3] and sp[2] < b for sp in spans + named):
                named.append(["name", value, a, b, "found"])
        if not named:
            return scored
        as_named = {c: sc for sc, c in self._scores(intent, _features(text, spans + named, self.names, free))}
        out = [(max(sc, as_named[c]) if "name" in json.loads(c)[0] else sc, c) for sc, c in scored]
        out.sort(key=lambda r: (-r[0], r[1]))
        return out

    def _slots_of(self, intent: str) -> set[str]:
        """Every slot name the intent's templates give words."""
        if intent not in self._intent_slots:
            self._intent_slots[intent] = {n for c in self.tables["classes"].get(intent, {}) for n in json.loads(c)[0]}
        return self._intent_slots[intent]

    def _admits(self, intent: str, cls: str, context: dict, named=()) -> bool:
        """Some template of the class admits the context and the entities named: for each key the
        context has, the value is one its requires_context allows and none its excludes_context
        names (a key the context lacks does not count, as in Home Assistant's matcher). `named`:
        per name the sentence says, the contexts ({domain, device_class}) of the entities with
        that name; Home Assistant's matcher takes a {name} value only where the template's
        requires_context / excludes_context admit its entity ("light up <area>": the binary
        sensor "Light" is no light), so one entity of each name must pass the same template."""
        rules = self.tables.get("context_rules", {}).get(f"{intent}|{cls}")
        if not rules or (not context and not named):
            return True

        def passes(requires, excludes, ctx) -> bool:
            return all(str(ctx[k]) in v for k, v in requires.items() if k in ctx) and \
                not any(str(ctx[k]) in v for k, v in excludes.items() if k in ctx)

        for rule in rules:
            requires, excludes, *name_domains = json.loads(rule)
            domains = set(name_domains[0]) if name_domains else None
            if passes(requires, excludes, context) and \
                    all(any(passes(requires, excludes, ctx) and (domains is None or ctx.get("domain") in domains)
                            for ctx in ctxs) for ctxs in named):
                return True
        return False

    def _named_contexts(self, kept) -> list[list[dict]]:
        """Per entity name among the kept spans, the {domain, device_class} of its entities."""
        out = []
        for k in kept:
            if k[0] == "name":
                ents = self.names.entities.get(_norm(self.names.canonical["name"].get(_norm(k[1]), k[1])), [])
                if ents:
                    out.append([{"domain": e.domain, **({"device_class": e.device_class} if e.device_class else {})}
                                for e in ents])
        return out

    def _free_text_reading(self, pred, context):
        """A sentence the model rejected that a template with a free-text slot says word for word
        around it ("play Does Not Exist", "complete take out the trash on my chores list"): every
        word outside the slots is one the intent's templates say, and the free text sits between
        template words. Titles and items are words the model never saw, so its rejection of
        them says little. The reading with the least free text wins; None if there is none."""
        best = None
        for intent in sorted({k.split("|")[0] for k in self._anchors}):
            p = self.answer(replace(pred, intent=intent, reason=None, slots={}, spans=[]), context)
            if p.intent != intent:
                continue
            # slots that are free text everywhere in the intent (not "state", a zone only sometimes)
            free = [sp for sp in p.spans if f"{intent}|{sp.name}" not in self._surfaces and any(
                k.startswith(f"{intent}|") and k.endswith(f"|{sp.name}") for k in self._anchors)]
            foreign, words = self._foreign_words(intent, p.text, [[sp.name, sp.value, sp.start, sp.end]
                                                                 for sp in p.spans])
            if not free or foreign or not words or not self._framed(intent, p):
                continue
            size = sum(sp.end - sp.start for sp in free)
            if best is None or size < best[0]:
                best = (size, p)
        return None if best is None else best[1]

    def _framed(self, intent: str, p) -> bool:
        """The free text of answer p sits between whole template contexts: everything left of
        it back to the sentence start, and right of it to the end, is a context the intent's
        templates have around the slot (or ANCHOR_WORDS of one); and either those contexts hold
        ANCHOR_WORDS words ("in 5 minutes") or a word outside the slots is one at most
        SPECIFIC_INTENTS intents' templates say ("play", "announce"; not "who is the")."""
        spans = [[sp.name, sp.value, sp.start, sp.end] for sp in p.spans]
        context_words = 0
        free_names = {sp[0] for sp in spans if any(k.startswith(f"{intent}|") and k.endswith(f"|{sp[0]}")
                                                  for k in self._anchors)}
        for sp in spans:
            if sp[0] not in free_names:
                continue
            grams = set().union(*(v for k, v in self._anchors.items()
                                  if k.startswith(f"{intent}|") and k.endswith(f"|{sp[0]}")))
            tokens = _marked_tokens(p.text, [x for x in spans if x is not sp], free_names)
            left, right = _anchor_grams(tokens, sp[2], sp[3], self._skip)
            whole = [g for g in (left[-1], right[-1]) if "<s>" in g or "</s>" in g or len(g.split()) == ANCHOR_WORDS]
            if len(whole) < 2 or f"L={left[-1]}" not in grams or f"R={right[-1]}" not in grams:
                return False
            context_words += sum(t not in ("<s>", "</s>") for g in (left[-1], right[-1]) for t in g.split())
        masked = list(p.text.lower())
        for sp in spans:
            masked[sp[2]:sp[3]] = " " * (sp[3] - sp[2])
        if self._specific is None:
            intents = self.tables["classes"]
            self._specific = Counter(w for i in intents for w in self._template_words(i))
        return context_words >= ANCHOR_WORDS or \
            any(self._specific[w] <= SPECIFIC_INTENTS for w in _WORD.findall("".join(masked)))

    def _gazetteer(self, slot: str):
        if slot not in self._gazetteers:
            surfaces = sorted(self.tables["surfaces"].get(slot, []), key=len, reverse=True)
            self._gazetteers[slot] = re.compile("|".join(_phrase_pattern(x) for x in surfaces if x)) \
                if surfaces else None
        return self._gazetteers[slot]

    def _widen(self, slot: str, text: str, sp: list) -> tuple:
        """A model span as a candidate (start, end, value, True), widened to the longest surface
        the templates use for the slot around it ("plugged" -> "plugged in") when its own words
        are not one."""
        pattern = self._gazetteer(slot)
        if pattern is not None and _norm(text[sp[2]:sp[3]]) not in self._surfaces.get(slot, ()):
            around = [m.span() for m in pattern.finditer(text.lower())
                      if m.start() <= sp[2] and sp[3] <= m.end() and (m.start(), m.end()) != (sp[2], sp[3])]
            if around:
                a, b = max(around, key=lambda m: m[1] - m[0])
                return a, b, text[a:b], True
        return sp[2], sp[3], sp[1], True

    def _around_score(self, slot: str, text: str, a: int, b: int) -> float:
        """log P(neighbours | slot) / P(neighbours | any slot of the intent): > 0 where the words
        around text[a:b] are those the slot has in the templates ("5 minutes" for minutes). For a
        number, the neighbours the slot's numbers have ("half" in "5 and a half minutes" is a
        seconds value, but "5" before "minutes" is not seconds)."""
        intent = slot.split("|")[0]
        family = "|#" if _number(text[a:b]) is not None and f"{slot}|#" in self.tables["around"] else ""
        if (intent, family) not in self._around_all:
            total = Counter()
            for k, v in self.tables["around"].items():
                if k.split("|")[0] == intent and k.endswith("|#") == (family == "|#"):
                    total.update(v)
            self._around_all[intent, family] = total
        left, right = _neighbours(text, a, b)
        mine, every = self.tables["around"].get(slot + family, {}), self._around_all[intent, family]
        n, n_all = sum(mine.values()) / 2, sum(every.values()) / 2
        out = 0.0
        for f in (f"L={left}", f"R={right}"):
            p_all = (every.get(f, 0) + 0.1) / (n_all + 10.0)     # a neighbour no slot has: ratio 1
            out += math.log((mine.get(f, 0) + AROUND_PRIOR * p_all) / (n + AROUND_PRIOR) / p_all)
        return out

    def _value(self, intent: str, cls: str, name: str, surface_text: str, model_value: str) -> str:
        if name in INVENTORY_SLOTS and _norm(model_value) in self.names.canonical[name]:
            return self.names.canonical[name][_norm(model_value)]
        surface = _norm(surface_text)
        values = self.tables["values"]
        for key in (f"{intent}|{name}|{surface}|{cls}", f"{intent}|{name}|{surface}"):
            if key in values:
                return values[key]
        if f"{intent}|{name}" in self.tables["numeric"] and _number(surface_text) is not None:
            return _number(surface_text)
        if surface in self._surfaces.get(f"{intent}|{name}", ()):
            return surface   # a template's own word for the value ("open" for covers)
        return model_value if model_value is not None else surface_text

    # -- answering -------------------------------------------------------------------------------
    def _inventory_spans(self, text: str, spans: list[list]) -> list[list]:
        """Widens name/area/floor spans to the whole inventory name around them; an entity name
        covering an area or floor span replaces it."""
        found = {k: self.names.find(k, text) for k in INVENTORY_SLOTS}
        out = []
        for sp in spans:
            name, value, a, b = sp
            if name in INVENTORY_SLOTS:
                around = [m for m in found[name] if m[0] <= a and b <= m[1]] or \
                         [m for m in found[name] if m[0] < b and a < m[1]]
                if around:
                    m = max(around, key=lambda m: m[1] - m[0])
                    sp = [name, m[2], m[0], m[1]]
            out.append(sp)
        for ent in sorted(found["name"], key=lambda m: m[0] - m[1]):
            place = [sp for sp in out if sp[0] in ("area", "floor") and ent[0] <= sp[2] and sp[3] <= ent[1]
                     and (sp[2], sp[3]) != (ent[0], ent[1])]
            named = [sp for sp in out if sp[0] == "name"]
            if place and all(ent[0] <= sp[2] and sp[3] <= ent[1] for sp in named):
                out = [sp for sp in out if sp not in place and sp[0] != "name"]
                out.append(["name", ent[2], ent[0], ent[1]])
        return out

    def _places_said(self, text: str, spans: list[list]) -> list[list]:
        """Areas and floors named in the sentence where the model tagged none of that kind and no
        span overlaps them; marked found (a fifth element) so that leaving them out costs nothing.
        A place word inside a whole entity name ("bedroom" of "bedroom lamp") is that entity, as
        when the model tags it (an entity name wins over an area word inside it)."""
        out = []
        entities = self.names.find("name", text) if not any(sp[0] == "name" for sp in spans) else []
        for kind in ("area", "floor"):
            if any(sp[0] == kind for sp in spans):
                continue
            for a, b, value in sorted(self.names.find(kind, text), key=lambda m: m[0] - m[1]):
                if any(a < sp[3] and sp[2] < b for sp in spans + out):
                    continue
                around = [m for m in entities if m[0] <= a and b <= m[1] and (m[0], m[1]) != (a, b)
                          and not any(m[0] < sp[3] and sp[2] < m[1] for sp in spans + out)]
                if around:
                    m = max(around, key=lambda m: m[1] - m[0])
                    out.append(["name", m[2], m[0], m[1], "found"])
                else:
                    out.append([kind, value, a, b, "found"])
        return out

    def _unknown_names(self, intent: str, text: str, spans: list[list]):
        """Spans of inventory-only slots whose value is not in the inventory: replaced by a whole
        inventory name elsewhere in the sentence, dropped when every word is one the intent's
        templates say anyway ("the lights in the house"). Returns (spans, rejected span or None)."""
        out = []
        for sp in spans:
            name, value, a, b = sp
            if name not in INVENTORY_SLOTS or f"{intent}|{name}" not in self.tables["inventory_only"] \
                    or _norm(value) in self.names.canonical[name]:
                out.append(sp)
                continue
            taken = [(x[2], x[3]) for x in spans if x is not sp]
            free = [m for m in self.names.find(name, text)
                    if not any(m[0] < tb and ta < m[1] for ta, tb in taken)]
            near = None if free else self._near_name(name, text, a, b, taken)
            if free:
                m = max(free, key=lambda m: m[1] - m[0])
                out.append([name, m[2], m[0], m[1]])
            elif near is not None:
                out.append(near)
            elif not set(_WORD.findall(text[a:b].lower())) <= self._template_words(intent):
                return spans, sp
        return out, None

    def _near_find(self, kind: str, text: str) -> list[tuple[int, int, str]]:
        """(start, end, canonical) of the `kind` names said in near spellings or another word
        order (see _Names.near), longest first, not overlapping; for a sentence in which no
        name is found as written ("set the bedrum lamp to 50%")."""
        key = (kind, text)
        if key not in self._near_cache:
            tokens = [m.span() for m in _WORD.finditer(text)]
            hits = []
            for n in range(min(NEAR_NAME_WORDS, len(tokens)), 0, -1):
                for i in range(len(tokens) - n + 1):
                    a, b = tokens[i][0], tokens[i + n - 1][1]
                    if any(a < y and x < b for x, y, _v in hits):
                        continue
                    canonical = self.names.near(kind, [text[x:y].lower() for x, y in tokens[i:i + n]])
                    if canonical is not None:
                        hits.append((a, b, canonical))
            if len(self._near_cache) > 256:
                self._near_cache.clear()
            self._near_cache[key] = hits
        return self._near_cache[key]

    def _near_name(self, kind: str, text: str, a: int, b: int, taken) -> list | None:
        """The span [kind, canonical, start, end] of the one inventory name said, in near
        spellings or another word order, by the words of text[a:b] and up to NEAR_NAME_WORDS
        words around them (not other slots' words, not words every name lacks); the longest
        window that fits one name wins. None if none does."""
        tokens = [m.span() for m in _WORD.finditer(text) if not any(m.start() < tb and ta < m.end() for ta, tb in taken)]
        inside = [k for k, (x, y) in enumerate(tokens) if a <= x and y <= b]
        if not inside:
            return None
        best = None
        for i in range(max(0, inside[0] - NEAR_NAME_WORDS + 1), inside[0] + 1):
            for j in range(inside[-1], min(len(tokens), i + NEAR_NAME_WORDS)):
                words = [text[x:y].lower() for x, y in tokens[i:j + 1]]
                canonical = self.names.near(kind, words)
                if canonical is not None and (best is None or j - i > best[0]):
                    best = (j - i, [kind, canonical, tokens[i][0], tokens[j][1]])
        return None if best is None else best[1]

    def _realise(self, intent: str, cls: str, text: str, spans: list[list], banned=frozenset()):
        """The class's slots with words, from the model's spans, the numbers and the known
        surfaces of the sentence. Returns (spans, slots filled from the words, model spans left
        out, fit of the neighbouring words) or None if a slot cannot be found. Each slot takes the
        candidate whose neighbours fit it best ("5 minutes" is minutes whatever the model called
        it), the model's own label counting MODEL_LABEL_BONUS."""
        need = json.loads(cls)[0]
        kept: list[list] = []
        numbers = [(m.start(), m.end()) for m in _NUMBER_OR_WORD.finditer(text) if _number(m.group()) is not None]
        candidates = []   # (score, slot, start, end, value, from the model)
        free_text = []    # wildcard slots (media titles, shopping items, messages)
        for s in need:
            slot = f"{intent}|{s}"
            mine = [sp for sp in spans if sp[0] == s]
            if s in INVENTORY_SLOTS:
                found = [(sp[2], sp[3], sp[1], len(sp) == 4) for sp in mine if (sp[2], sp[3]) not in banned] or \
                        [(a, b, v, False) for a, b, v in self.names.find(s, text) if (a, b) not in banned] or \
                        [(a, b, v, False) for a, b, v in self._near_find(s, text)
                         if (a, b) not in banned and not any(a < sp[3] and sp[2] < b for sp in spans)
                         and (s == "name" or not any(x <= a and b <= y and (x, y) != (a, b)
                                                     for x, y, _v in self._near_find("name", text)))]
                candidates += [(0.0 if m else -FILL_PENALTY, s, a, b, v, m) for a, b, v, m in found]
                continue
            free = f"{intent}|{cls}|{s}" in self._wildcard
            if free and f"{intent}|{cls}|{s}" in self._anchors:
                free_text.append(s)   # placed by the template words around it, below
                continue
            found = [(sp[2], sp[3], sp[1], True) if free else self._widen(slot, text, sp) for sp in mine]
            # a model span on the whole part of a decimal ("20" of "20.5") is the decimal; a span
            # of spoken words ("twenty point five") is kept whole
            found = [next(((a, b, text[a:b], m) for a, b in numbers if a <= x and y <= b and (a, b) != (x, y)), (x, y, v, m))
                     if _number(text[x:y]) is not None else (x, y, v, m) for x, y, v, m in found]
            if slot in self.tables["numeric"]:
                found += [(sp[2], sp[3], sp[1], False) for sp in spans
                          if sp[0] != s and _number(text[sp[2]:sp[3]]) is not None]
                found += [(a, b, text[a:b], False) for a, b in numbers
                          if not any(a < sp[3] and sp[2] < b for sp in spans)]
            if self._gazetteer(slot) is not None:   # the slot's own template words ("half" for minutes)
                found += [(m.start(), m.end(), m.group(), False)
                          for m in self._gazetteer(slot).finditer(text.lower())
                          if not any((x, y) == m.span() for x, y, _v, _m in found)]
            if not found and f"{intent}|{cls}|{s}" in self._wildcard:
                free_text.append(s)   # a value the templates use wins over free text ("home")
            for a, b, v, m in found:
                fit = self._around_score(slot, text, a, b) if slot in self.tables["numeric"] else 0.0
                candidates.append((fit + (MODEL_LABEL_BONUS if m else -FILL_PENALTY), s, a, b, v, m))
        filled, fit = 0, 0.0
        chosen = []
        for c in sorted(candidates, key=lambda c: (-c[0], c[2], c[1])):
            if not any(k[1] == c[1] for k in chosen) and not any(c[2] < k[3] and k[2] < c[3] for k in chosen):
                chosen.append(c)
        wanted = {c[1] for c in candidates}
        if {c[1] for c in chosen} != wanted:
            # best first took a word another slot needs ("1" as minutes in "1 and a half hours",
            # where "half" is the minutes): the best assignment that gives every slot one
            chosen = _best_assignment(candidates, sorted(wanted)) or chosen
        for score, s, a, b, v, m in chosen:
            kept.append([s, v, a, b])
            filled += not m
            fit += score
        for s in free_text:
            if any(k[0] == s for k in kept):
                continue
            anchors = self._anchors.get(f"{intent}|{cls}|{s}")
            if anchors is not None:
                run = self._anchored_run(intent, self._slots_of(intent), text, kept, anchors, [(sp[2], sp[3]) for sp in spans if sp[0] == s],
                                         {n for n in need if f"{intent}|{cls}|{n}" in self._wildcard})
                if run is None:
                    return None
                score, a, b, from_model = run
                kept.append([s, text[a:b], a, b])
                filled += not from_model
                fit += score - (0.0 if from_model else FILL_PENALTY)
                continue
            # the words the slot's neighbours in the templates frame best ("play ... on the TV")
            tokens = [m.span() for m in _WORD.finditer(text)
                      if not any(m.start() < k[3] and k[2] < m.end() for k in kept)]
            runs = [(tokens[i][0], tokens[j][1]) for i in range(len(tokens))
                    for j in range(i, min(i + FREE_TEXT_WORDS, len(tokens)))
                    if not any(tokens[i][0] < k[3] and k[2] < tokens[j][1] for k in kept)]
            scored = [(self._around_score(f"{intent}|{s}", text, a, b), a, b) for a, b in runs]
            scored = [r for r in scored if r[0] > FREE_TEXT_FLOOR]
            if not scored:
                return None
            score, a, b = max(scored, key=lambda r: (r[0], r[2] - r[1]))
            kept.append([s, text[a:b], a, b])
            filled += 1
            fit += score - FILL_PENALTY
        if len(kept) < len(need):
            return None
        # a model span of a free-text slot that overlaps the text chosen for it is not left out
        dropped = sum(1 for sp in spans if len(sp) == 4 and not any(
            (k[2] <= sp[2] and sp[3] <= k[3]) or (k[0] == sp[0] and k[0] in free_text and sp[2] < k[3] and k[2] < sp[3])
            for k in kept))
        return kept, filled, dropped, fit

    def _anchored_run(self, intent: str, need, text: str, kept, anchors: set[str], model_runs, free):
        """The free-text value of a slot: the run of words (outside the slots kept) whose
        neighbours are the longest contexts the templates have around the slot ("play the
        {search_query} album", "play {search_query} on <name>"), at least one word of context on
        each side (or the sentence's start/end). Ties go to the model's own span, then to less
        text. Returns (fit, start, end, from the model) or None."""
        tokens = _marked_tokens(text, kept, free)
        words = [(a, b) for a, b, _t in tokens if not any(a < k[3] and k[2] < b for k in kept)]
        template_words = self._template_words(intent) | set(self.tables.get("skip_words", []))
        # inventory names and other slots' words said in the sentence: a run holding one is a
        # reading that leaves a slot the sentence has unfilled ("play The Office in the Kitchen")
        known = {(a, b) for kind in INVENTORY_SLOTS for a, b, _v in self.names.find(kind, text)}
        for slot in {f"{intent}|{n}" for n in need if f"{intent}|{n}" in self._surfaces}:
            known |= {m.span() for m in self._gazetteer(slot).finditer(text.lower())}
        best = None
        for i in range(len(words)):
            for j in range(i, min(i + FREE_TEXT_WORDS, len(words))):
                a, b = words[i][0], words[j][1]
                if any(a < k[3] and k[2] < b for k in kept) or \
                        any(a < t[1] and t[0] < b and (t[0], t[1]) not in words for t in tokens):
                    break
                left, right = _anchor_grams(tokens, a, b, self._skip)
                lk = max((k + 1 for k, g in enumerate(left) if f"L={g}" in anchors), default=0)
                rk = max((k + 1 for k, g in enumerate(right) if f"R={g}" in anchors), default=0)
                if lk == 0 or rk == 0:
                    continue
                mine = (a, b) in model_runs
                inside = sum(1 for x, y in known if a <= x and y <= b)
                # words left outside the slots that no template of the intent says: a template
                # reading accounts for every word ("play the tv show Breaking Bad" is not "the")
                stray = sum(1 for x, y in words if not (a <= x and y <= b)
                            and text[x:y].lower() not in template_words and _number(text[x:y]) is None
                            and not any(p <= x and y <= q for p, q in known))
                key = (lk + rk - FREE_NAME_COST * inside - stray, mine, -(b - a))
                if best is None or key > best[0]:
                    best = (key, a, b, mine)
        if best is None:
            return None
        return 0.5 * (best[0][0] - 2), best[1], best[2], best[3]

    def answer(self, pred, context: dict | None = None):
        """The prediction in HA's shape (a new Prediction; `pred` is not changed). `context`:
        the satellite's {"area": ..., "floor": ...}, used where the template takes it."""
        from safu.runtime.api import SlotSpan

        if pred.intent is None and self._in_template_words(pred):
            pred = replace(pred, intent=pred.best_intent, reason=None)
        elif pred.intent is None and (pred.reason or "").startswith("out of scope") and self._anchors:
            reading = self._free_text_reading(pred, context)
            if reading is not None:
                return reading
        if pred.intent is None or not self.tables["classes"].get(pred.intent):
            return pred
        context = dict(context or {})
        intent, text = pred.intent, pred.text
        spans = self._inventory_spans(text, [[s.name, s.value, s.start, s.end] for s in pred.spans])
        spans, rejected = self._unknown_names(intent, text, spans)
        spans += self._places_said(text, spans)
        if rejected is not None:
            return replace(pred, intent=None, slots={}, spans=[],
                           reason=f"{rejected[0]} {text[rejected[2]:rejected[3]]!r} is not in the inventory")
        free = {k.split("|")[-1] for k in self._wildcard if k.startswith(f"{intent}|")}
        free = {n for n in free if f"{intent}|{n}" not in self._surfaces and f"{intent}|{n}" not in self.tables["numeric"]}
        features = _features(text, spans, self.names, free)
        best, refused = None, False
        context_keys = [k for k in ("area", "floor") if context.get(k)]
        for score, cls in self._class_order(intent, text, spans, features, free):
            if best is not None and score + WORDING_BONUS + CONTEXT_BONUS * len(context_keys) < best[0] - SCORE_MARGIN:
                break   # classes come best first: none further down can win, bonuses included
            takes = json.loads(cls)[2]
            if any(not context.get(k) for k in takes):
                continue   # a template that takes the satellite's area matches only with one
            if not self._admits(intent, cls, context):
                refused = True
                continue   # the satellite's context is one the class's templates require or exclude
            realised = self._realise(intent, cls, text, spans)
            if any(f"{intent}|{cls}|{n}" in self._anchors for n in json.loads(cls)[0]):
                # a free-text value may hold a place name ("play The Office in the Kitchen"):
                # each place or name of the sentence is also tried left out
                tried = {(k[2], k[3]) for k in (realised[0] if realised else []) if k[0] in INVENTORY_SLOTS}
                tried |= {(sp[2], sp[3]) for sp in spans if sp[0] in INVENTORY_SLOTS}
                for place in sorted(tried):
                    other = self._realise(intent, cls, text, spans, banned={place})
                    if other is not None and (realised is None or other[3] - DROP_PENALTY * other[2]
                                              > realised[3] - DROP_PENALTY * realised[2]):
                        realised = other
            if realised is None:
                continue
            kept, filled, dropped, fit = realised
            if not self._admits(intent, cls, context, self._named_contexts(kept)):
                continue   # no template of the class takes the entity named (or not with this context)
            # an inventory name found in the words, not by the model, whose every word is one the
            # intent's templates say anyway ("light up the living room": the entity "Light")
            looked_up = sum(1 for k in kept if k[0] in INVENTORY_SLOTS and not any(
                (sp[0], sp[2], sp[3]) == (k[0], k[2], k[3]) for sp in spans)
                and set(_WORD.findall(text[k[2]:k[3]].lower())) <= self._template_words(intent))
            fit -= LOOKUP_PENALTY * looked_up
            total = score + fit - DROP_PENALTY * dropped + CONTEXT_BONUS * len(takes)
            if self._class_says(intent, cls, text, kept):
                total += WORDING_BONUS
            if best is None or total > best[0]:
                best = (total, cls, kept)
        if best is None:
            why = f"the slots it needs are not in the sentence{' or it does not admit the context' if refused else ''}"
            return replace(pred, intent=None, slots={}, spans=[], reason=f"no {intent} template fits: {why}")
        _total, cls, kept = best
        _need, fixed, context_slots = json.loads(cls)
        tagged = [sp for sp in spans if len(sp) == 4 and any(k[2] <= sp[2] and sp[3] <= k[3] for k in kept)]
        foreign = self._foreign_words(intent, text, kept)
        if not tagged and foreign[0] >= max(FOREIGN_WORDS, FOREIGN_SHARE * foreign[1]):
            return replace(pred, intent=None, slots={}, spans=[],
                           reason=f"out of scope: {foreign[0]} of {foreign[1]} words are in no {intent} template "
                                  "and no slot was found")
        slots, new_spans = {}, []
        for name, value, a, b in sorted(kept, key=lambda k: k[2]):
            value = self._value(intent, cls, name, text[a:b], value)
            slots[name] = value
            new_spans.append(SlotSpan(name, value, text[a:b], a, b))
        for k, v in fixed:
            slots.setdefault(k, v)
        for k in context_slots:
            if context.get(k):
                slots.setdefault(k, context[k])
        return replace(pred, slots=slots, spans=new_spans)


def place_context(model, area: str | None = None, floor: str | None = None, where: str = "--area") -> dict:
    """{"area": ..., "floor": ...} of a satellite (the given ones only), checked against the
    model's inventory when it has Home Assistant answers: a place it does not know is a
    ValueError naming `where` and the places it has; the name is returned as the inventory spells
    it ("kitchen" -> "Kitchen"). Without answer tables the context is returned as given."""
    out = {}
    answers = getattr(model, "answers", None)
    for key, value, places in (("area", area, "areas"), ("floor", floor, "floors")):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: the {key} must be a non-empty name, got {value!r}")
        if answers is not None:
            known = answers.names.canonical[key]
            if _norm(value) not in known:
                names = sorted({p.name for p in getattr(answers.inventory, places)})
                raise ValueError(f"{where}: {value!r} is not {'an' if key == 'area' else 'a'} {key} of the model's inventory; expected one of "
                                 f"{', '.join(names) if names else '(none: the inventory has no ' + places + ')'}")
            value = known[_norm(value)]
        out[key] = value.strip()
    return out


class WithContext:
    """A model whose predict(text) is told where it was heard: `context` (a satellite's
    {"area": ..., "floor": ...}) goes to every predict, a context given to predict itself
    winning key by key. Everything else is the model's own."""

    def __init__(self, model, context: dict):
        self.model = model
        self.context = dict(context)

    def predict(self, text: str, context: dict | None = None):
        merged = {**self.context, **(context or {})}
        return self.model.predict(text, context=merged or None)

    def __getattr__(self, name):
        return getattr(self.model, name)


__all__ = ["HomeAssistantAnswers", "WithContext", "place_context"]
