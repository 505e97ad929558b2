"""JSON Lines: one example per line.

    {"text": "turn on the kitchen light", "intent": "HassTurnOn", "slots": {"name": "kitchen light"}}
    {"text": "make it warmer in the lounge", "intent": "HassClimateSetTemperature",
     "slots": {"area": {"text": "lounge", "value": "Living Room"}}}
    {"text": "tell me a joke", "intent": null}                 # out of scope
    {"text": "lights on", "intent": "HassTurnOn", "fixed": {"domain": "light"}}   # slots without words

    from safu.runtime.datasets.jsonl import load_jsonl
    examples, report = load_jsonl(Path("train.jsonl"))

"fixed" holds slots implied by the sentence (SlotSpan with start == end == -1).
A slot is a value that must appear in the text (found case-insensitively, preferring a whole-word
match, left to right), or {"text": surface, "value": canonical, "start": char offset (optional)}.
Blank lines and lines starting with // or # are skipped. Errors name file:line and the field.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .common import DataError, Example, SlotSpan, read_text, type_name


def find_span(text: str, surface: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first case-insensitive occurrence of surface in text that does not overlap `taken`,
    preferring whole-word occurrences. Returns (start, end) or None."""
    needle = surface.strip()
    if not needle:
        return None
    low, key = text.lower(), needle.lower()
    candidates = [m.start() for m in re.finditer(re.escape(key), low)]
    whole = [a for a in candidates
             if (a == 0 or not low[a - 1].isalnum())
             and (a + len(key) == len(low) or not low[a + len(key)].isalnum())]
    for a in whole + [a for a in candidates if a not in whole]:
        b = a + len(key)
        if all(b <= s or a >= e for s, e in taken):
            return a, b
    return None


def parse_record(obj, where: tuple[Path, int]) -> Example:
    """One JSON object -> Example. Raises DataError(file:line: field ...)."""
    path, line = where
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a JSON object, got {type_name(obj)}", line=line)
    if "text" not in obj:
        raise DataError(path, "missing; expected the sentence", line=line, field="text")
    text = obj["text"]
    if not isinstance(text, str) or not text.strip():
        raise DataError(path, "expected a non-empty string", line=line, field="text")
    if "intent" not in obj:
        raise DataError(path, "missing; expected an intent name (or null for out of scope)",
                        line=line, field="intent")
    intent = obj["intent"]
    if intent is not None and (not isinstance(intent, str) or not intent.strip()):
        raise DataError(path, "expected a non-empty string or null", line=line, field="intent")
    slots_obj = obj.get("slots") or {}
    if not isinstance(slots_obj, dict):
        raise DataError(path, 'expected an object {"slot name": value}', line=line, field="slots")
    spans: list[SlotSpan] = []
    taken: list[tuple[int, int]] = []
    for name, spec in slots_obj.items():
        start = None
        if isinstance(spec, dict):
            surface, value = spec.get("text"), spec.get("value", spec.get("text"))
            start = spec.get("start")
        else:
            surface, value = spec, spec
        if isinstance(surface, (int, float)) and not isinstance(surface, bool):
            surface = str(surface)
        if not isinstance(surface, str) or not surface.strip():
            raise DataError(path, 'expected a string or {"text": ..., "value": ...}', line=line,
                            field=f"slots.{name}")
        if start is not None:
            if not isinstance(start, int) or isinstance(start, bool) or \
                    text[start:start + len(surface)] != surface or start < 0:
                raise DataError(path, f"start {start!r} does not point at {surface!r} in {text!r}",
                                line=line, field=f"slots.{name}.start")
            found = (start, start + len(surface))
        else:
            found = find_span(text, surface, taken)
        if found is None:
            raise DataError(path, f"value {surface!r} not found in the text {text!r}", line=line,
                            field=f"slots.{name}")
        taken.append(found)
        spans.append(SlotSpan(str(name), found[0], found[1], str(value).strip()))
    fixed = obj.get("fixed") or {}
    if not isinstance(fixed, dict) or not all(isinstance(v, (str, int, float)) for v in fixed.values()):
        raise DataError(path, 'expected an object {"slot name": value}', line=line, field="fixed")
    spans += [SlotSpan(str(name), -1, -1, str(value)) for name, value in fixed.items()
              if str(name) not in slots_obj]
    return Example(text, intent.strip() if intent else None, spans)


def load_jsonl(path: Path, skipped: list[str] | None = None) -> tuple[list[Example], list[str]]:
    """Reads a .jsonl file. Returns (examples, report lines). Raises DataError for bad JSON,
    missing fields, slot values not in the text, and files with no examples. With a `skipped`
    list, a bad line is not fatal: its error message is appended there and the line left out."""
    text, _ = read_text(path)
    examples = []
    bad = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("//", "#")):
            continue
        try:
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=lineno) from None
            examples.append(parse_record(obj, (path, lineno)))
        except DataError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            bad += 1
    if not examples:
        raise DataError(path, "no examples; expected one JSON object per line"
                        + (f" ({bad} invalid lines skipped)" if bad else ""))
    skipped_note = f", {bad:,} invalid lines skipped" if bad else ""
    return examples, [f"jsonl {path}: {len(examples):,} examples{skipped_note}"]
