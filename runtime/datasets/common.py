"""Shared types of the training-input loaders: Example, SlotSpan, Dataset, DataError, and the
helpers every format uses to read text and YAML with file/line context.

    from safu.runtime.datasets.common import Example, SlotSpan, read_text, load_yaml
    text = read_text(path)                  # UTF-8 or DataError naming the file and byte
    doc = load_yaml(path)                   # mappings/strings remember their line: line_of(doc)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class DataError(ValueError):
    """Bad training input. The message names the file (and line/field when known) and what was
    expected, so the CLI can print it as one line."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None,
                 field: str | None = None):
        where = str(path) if path is not None else ""
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field


@dataclass(frozen=True)
class SlotSpan:
    """One slot of an example.

    start/end are character offsets of the slot's surface in Example.text (text[start:end]).
    value is the canonical value ("Living Room", "light", "21") or the surface itself.
    A *fixed* slot (Home Assistant `slots:` / `inferred_domain`, e.g. domain=light for "turn on the
    lights") is implied by the sentence but has no surface: start == end == -1 (see `.fixed`).
    Trainers tagging tokens must skip fixed slots.
    """
    name: str
    start: int
    end: int
    value: str

    @property
    def fixed(self) -> bool:
        return self.start < 0


@dataclass
class Example:
    """One training sentence: text, intent (None = out of scope), slots (spanned and fixed)."""
    text: str
    intent: str | None
    slots: list[SlotSpan] = field(default_factory=list)

    @property
    def spanned_slots(self) -> list[SlotSpan]:
        return [s for s in self.slots if not s.fixed]


@dataclass
class Dataset:
    """What load_examples returns: the examples and human-readable lines about how they were made."""
    examples: list[Example] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # errors of rows left out (skip_invalid)
    # {slot: its values as the lists spell them} for the slots whose values all come from closed
    # lists (Rhino context slots, Home Assistant `values:` lists); see load.merge_closed_slots
    closed_slots: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        """Sorted distinct intent names (None excluded)."""
        return sorted({e.intent for e in self.examples if e.intent is not None})


# ---------------------------------------------------------------------------------------------
# Reading files

def read_text(path: Path, fallback_encodings: tuple[str, ...] = ()) -> tuple[str, str]:
    """Returns (text, encoding used). UTF-8 (a BOM is allowed) is expected; each of
    fallback_encodings ("cesu-8" or a codec name) is tried in turn only if UTF-8 fails. Raises DataError naming the file and
    the offending byte when nothing decodes, OSError-derived DataError when unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        for enc in fallback_encodings:
            try:
                if enc == "cesu-8":
                    return _decode_cesu8(raw), "UTF-8 with surrogate pairs (CESU-8)"
                return raw.decode(enc), enc
            except UnicodeError:
                continue
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(path, f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                              f"{exc.start}); expected a UTF-8 file", line=line) from None


def _decode_cesu8(raw: bytes) -> str:
    """UTF-8 in which characters beyond U+FFFF were written as two encoded UTF-16 surrogates
    (what some Java/JS tools emit). Rejoins the pairs; raises UnicodeError if any is unpaired."""
    text = raw.decode("utf-8-sig", errors="surrogatepass")
    return text.encode("utf-16-le", errors="surrogatepass").decode("utf-16-le")


class LineStr(str):
    """A YAML string that remembers the 1-based line it came from."""
    line: int = 0


class LineDict(dict):
    """A YAML mapping that remembers the 1-based line it started on."""
    line: int = 0


class LineList(list):
    """A YAML sequence that remembers the 1-based line it started on."""
    line: int = 0


# The C parser when PyYAML has it (about 10x faster on the Home Assistant set); same marks.
class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


# YAML 1.2 booleans: only true/false. PyYAML follows YAML 1.1, where unquoted yes/no/on/off
# (any case) are booleans too, so a Rhino intent `On:` or a list value `off` became True/False
# (and intents `On` and `Yes` merged into one). The resolver table is copied, not edited, so
# other users of yaml.SafeLoader are unaffected.
YAML_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _LineLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _LineLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, ("tag:yaml.org,2002:bool", YAML_BOOL))


def _construct_str(loader, node):
    s = LineStr(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    d = LineDict(loader.construct_pairs(node, deep=True))
    d.line = node.start_mark.line + 1
    return d


def _construct_seq(loader, node):
    seq = LineList(loader.construct_sequence(node, deep=True))
    seq.line = node.start_mark.line + 1
    return seq


_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def line_of(obj, default: int | None = None) -> int | None:
    """The 1-based source line of a value loaded by load_yaml (None/default if unknown)."""
    return getattr(obj, "line", default)


def load_yaml(path: Path, text: str | None = None):
    """Parses a YAML file; strings, mappings and lists carry `.line`. Raises DataError with the
    file and line of yaml's error mark for malformed YAML, and for an empty file."""
    if text is None:
        text, _ = read_text(path)
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "syntax error"
        raise DataError(path, f"malformed YAML: {what}", line=line) from None
    except yaml.YAMLError as exc:
        raise DataError(path, f"malformed YAML: {exc}") from None
    if doc is None:
        raise DataError(path, "file is empty; expected a YAML mapping")
    return doc


def type_name(value) -> str:
    """What a YAML/JSON value is, in the words of the format: mapping, list, string, number..."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (dict, "mapping"), (list, "list"), (str, "string"),
                       ((int, float), "number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def require(mapping, key: str, path: Path, kind: type | tuple[type, ...], expected: str):
    """mapping[key], checked to be of `kind`; raises DataError(file:line: field 'key': expected ...)."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise DataError(path, f"missing; expected {expected}", line=line_of(mapping), field=key)
    value = mapping[key]
    if not isinstance(value, kind):
        raise DataError(path, f"expected {expected}, got {type_name(value)}",
                        line=line_of(value, line_of(mapping)), field=key)
    return value


def check_spans(example: Example, where: str = "") -> None:
    """Raises AssertionError-free DataError if a spanned slot does not lie inside the text."""
    for s in example.slots:
        if s.fixed:
            continue
        if not (0 <= s.start < s.end <= len(example.text)):
            raise DataError(None, f"{where}slot '{s.name}' span [{s.start}, {s.end}) is outside "
                                  f"the text {example.text!r}")
