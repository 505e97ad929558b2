"""Picovoice Rhino context YAML.

    from safu.runtime.datasets.rhino import load_rhino
    examples, report = load_rhino(path, doc, cap=2000, seed=0)

    context:
      expressions:
        changeColor:
          - "[turn, make] (all, the) lights $color:color"
          - "@polite change the lights to $color:color"
      slots:
        color: [blue, green, red]
      macros:
        polite: [please, kindly]

Syntax of an expression: `[a, b]` one of the choices (required), `(a, b)` one of the choices or
nothing (optional), `$type:name` a slot named `name` filled from slot list `type`, `@macro` one of
the macro's phrases. Choices and macro phrases may themselves use the syntax. Built-in slot types
`$pv.SingleDigitInteger`, `$pv.TwoDigitInteger`, `$pv.Percent`, `$pv.SingleDigitOrdinal`,
`$pv.TwoDigitOrdinal` are filled with numbers (digits and words; value = digits). A context slot
value is reported as the context spells it; one with number words ("twenty ounce") is also trained
in digits ("20 ounce", as recognisers' transcripts write it) and still reported as the phrase.
Every context slot is a closed list: its phrases are all the slot can be (stored as `slot.closed`,
models/slot_values.py).
"""
from __future__ import annotations

import re
from pathlib import Path

from .common import DataError, line_of, require, type_name
from .expand import TemplateSentence, closed_slots, expand_templates, format_count, sampling_note
from .numbers import digit_form, number_words
from .template import (EMPTY, Alt, Grammar, ListRef, ListValue, RuleRef, SlotList, TemplateError,
                       Text, _make_seq, walk)

_ORDINALS = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
             "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_ORD_TENS = {"twenty": "twentieth", "thirty": "thirtieth", "forty": "fortieth", "fifty": "fiftieth",
             "sixty": "sixtieth", "seventy": "seventieth", "eighty": "eightieth",
             "ninety": "ninetieth"}


def _ordinal_words(n: int) -> str:
    if n < 20:
        return _ORDINALS[n]
    words = number_words(n).split()
    if len(words) == 1:
        return _ORD_TENS[words[0]]
    return f"{words[0]} {_ORDINALS[int(n % 10)]}"


def _numbers(lo: int, hi: int, suffix: str = "") -> SlotList:
    return SlotList([ListValue(Alt((Text(f"{n}{suffix}"), Text(number_words(n) + suffix))), str(n))
                     for n in range(lo, hi + 1)])


def _phrase_value(phrase: str) -> ListValue:
    """A context slot value: its value is the phrase as the context spells it. A phrase with number
    words ("twenty ounce") is also trained as the recognisers write it ("20 ounce"), still reported
    as the phrase; only the built-in pv. number slots report digits."""
    digits = digit_form(phrase)
    surface = Text(phrase) if digits == phrase else Alt((Text(phrase), Text(digits)))
    return ListValue(surface, phrase)


def _ordinals(lo: int, hi: int) -> SlotList:
    return SlotList([ListValue(Text(_ordinal_words(n)), str(n)) for n in range(lo, hi + 1)])


BUILTIN_SLOTS = {
    "pv.SingleDigitInteger": lambda: _numbers(0, 9),
    "pv.TwoDigitInteger": lambda: _numbers(0, 99),
    "pv.Percent": lambda: _numbers(0, 100, " percent"),
    "pv.SingleDigitOrdinal": lambda: _ordinals(1, 9),
    "pv.TwoDigitOrdinal": lambda: _ordinals(1, 99),
}

_SLOT_REF = re.compile(r"\$([A-Za-z0-9_.]+):([A-Za-z0-9_]+)")
_MACRO_REF = re.compile(r"@([A-Za-z0-9_]+)")


def parse_expression(src: str):
    """Returns the template tree of a Rhino expression; raises TemplateError naming the column."""
    return _RhinoParser(str(src)).parse()


class _RhinoParser:
    def __init__(self, src: str):
        self.s = src
        self.i = 0

    def error(self, message: str, column: int | None = None):
        raise TemplateError(message, self.s, self.i if column is None else column)

    def parse(self):
        node = self.sequence(closer=None)
        return node

    def sequence(self, closer: str | None):
        """Items up to closer (not consumed) or, inside a choice, up to a ','."""
        items = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == closer or (closer and c == ","):
                break
            if c in ")]":
                self.error(f"unexpected '{c}'")
            if c in "[(":
                self.i += 1
                items.append(self.choice(c))
                continue
            m = _SLOT_REF.match(self.s, self.i) if c == "$" else _MACRO_REF.match(self.s, self.i) \
                if c == "@" else None
            if c in "$@":
                if m is None:
                    self.error("expected $type:name" if c == "$" else "expected @macro")
                items.append(ListRef(m.group(1), m.group(2)) if c == "$" else RuleRef(m.group(1)))
                self.i = m.end()
                continue
            j = self.i
            while j < len(self.s) and self.s[j] not in "[]()$@" and not (closer and self.s[j] == ","):
                j += 1
            items.append(Text(self.s[self.i:j]))
            self.i = j
        if closer is not None and self.i >= len(self.s):
            self.error(f"missing '{closer}'")
        return _make_seq(items)

    def choice(self, opener: str):
        start = self.i - 1
        closer = "]" if opener == "[" else ")"
        options = []
        while True:
            if self.i >= len(self.s):
                self.error(f"missing '{closer}' for the choice opened", start)
            options.append(self.sequence(closer))
            c = self.s[self.i]
            self.i += 1
            if c == closer:
                break
        if opener == "(":
            options.append(EMPTY)
        return options[0] if len(options) == 1 else Alt(tuple(options))


def is_rhino(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("context"), dict) \
        and "expressions" in doc["context"]


def load_rhino(path: Path, doc: dict, cap: int, seed: int = 0, strict_cap: bool = False,
               closed: dict | None = None) -> tuple[list, list[str]]:
    """Expands one Rhino context (sampling as expand_templates: `cap` sentences per intent, covering
    every alternative and slot value; at most `cap` with strict_cap). Returns (examples, report
    lines); raises DataError (file:line) for missing fields, expressions that do not parse, and
    unknown slot types or macros. `closed`, when given, is filled with {slot: values} of the slots
    that context slot lists fill (expand.closed_slots; a built-in pv. number slot is open)."""
    context = require(doc, "context", path, dict, "a mapping with expressions")
    expressions = require(context, "expressions", path, dict, "a mapping of intent -> expressions")

    def parse(src, what):
        if not isinstance(src, str):
            raise DataError(path, f"{what}: expected a string, got {type_name(src)}",
                            line=line_of(src, line_of(context)))
        try:
            return parse_expression(src)
        except TemplateError as exc:
            raise DataError(path, f"{what}: {exc}", line=line_of(src)) from None

    for key in ("slots", "macros"):
        value = context.get(key)
        if value is not None and not isinstance(value, dict):
            raise DataError(path, f"expected a mapping of name -> list, got {type_name(value)}",
                            line=line_of(value, line_of(context)), field=f"context.{key}")
    lists: dict[str, SlotList] = {}
    for name, values in (context.get("slots") or {}).items():
        if not isinstance(values, list) or not values:
            raise DataError(path, "expected a non-empty list of values",
                            line=line_of(values, line_of(context)), field=f"slots.{name}")
        lists[str(name)] = SlotList([_phrase_value(str(v)) for v in values], closed=True)
    rules = {}
    for name, phrases in (context.get("macros") or {}).items():
        if not isinstance(phrases, list) or not phrases:
            raise DataError(path, "expected a non-empty list of phrases",
                            line=line_of(phrases, line_of(context)), field=f"macros.{name}")
        rules[str(name)] = Alt(tuple(parse(p, f"macro @{name}") for p in phrases))
    sentences = []
    for intent, exprs in expressions.items():
        if not isinstance(exprs, list):
            raise DataError(path, "expected a list of expressions",
                            line=line_of(exprs, line_of(expressions)), field=f"expressions.{intent}")
        for src in exprs:
            node = parse(src, f"expression of {intent}")
            sentences.append((str(intent), node, src))
    for _, node, src in sentences:   # built-in slot types are made only when used
        for n in walk(node):
            if isinstance(n, ListRef) and n.list_name not in lists and n.list_name in BUILTIN_SLOTS:
                lists[n.list_name] = BUILTIN_SLOTS[n.list_name]()
    grammar = Grammar(rules, lists)
    out = []
    for intent, node, src in sentences:
        missing = grammar.missing_references(node)
        if missing:
            refs = ", ".join(sorted(set(m.replace("{", "$").replace("}", "").replace("<", "@").replace(">", "")
                                         for m in missing)))
            raise DataError(path, f"expression {str(src)!r} uses {refs}, not defined under "
                                  "context.slots / context.macros (or a built-in pv. slot)",
                            line=line_of(src))
        out.append(TemplateSentence(intent, node, grammar, {}, f"{path}:{line_of(src)}"))
    examples, stats = expand_templates(out, cap, seed, strict_cap=strict_cap)
    if closed is not None:
        closed.update(closed_slots(out))
    report = [f"rhino {path}: {len(stats.per_intent)} intents, {stats.templates} expressions, "
              f"{format_count(stats.possible)} possible sentences, sampled {stats.produced:,} "
              f"({sampling_note(stats, cap, strict_cap)}; seed {seed})"]
    return examples, report
