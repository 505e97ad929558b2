"""Sentence templates (the Home Assistant / hassil syntax, also the target of the Rhino reader):
parse, count, enumerate, sample, render with slot spans, and match a sentence.

    from safu.runtime.datasets.template import parse_template, Grammar, render
    g = Grammar(rules={"the": parse_template("(the|my)")}, lists={...})
    node = parse_template("turn on [<the>] {area} (light|lights)")
    g.count(node)                        # number of expansions (not deduplicated), exact int
    text, spans = render(g.sample(node, random.Random(0)))
    g.match(node, "turn on the kitchen lights")   # -> list of slot tuples, [] if not generable

Syntax: `(a|b)` alternatives, `[x]` optional (= `(x|)`), `(a;b)` any order of a and b,
`<rule>` an expansion rule, `{list}` / `{list:slot}` a slot filled from a list, `\\x` a literal x.
A top-level `a|b` is allowed (rules use it). Whitespace is collapsed when rendering, so
"turn [the] on" renders as "turn on" or "turn the on".
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, eq=False)
class Text:
    text: str


@dataclass(frozen=True, eq=False)
class Seq:
    items: tuple


@dataclass(frozen=True, eq=False)
class Alt:
    options: tuple


@dataclass(frozen=True, eq=False)
class RuleRef:
    name: str


@dataclass(frozen=True, eq=False)
class ListRef:
    list_name: str
    slot_name: str


EMPTY = Seq(())

Node = Text | Seq | Alt | RuleRef | ListRef


@dataclass
class ListValue:
    """One value of a slot list: `surface` is a template for what is said, `value` the canonical
    value reported for the slot (None = the surface as rendered), `context` entity attributes
    (domain, device_class, area) used to filter {name} by requires_context."""
    surface: Node
    value: str | None = None
    context: dict = field(default_factory=dict)


@dataclass
class SlotList:
    values: list[ListValue]
    wildcard: bool = False   # matches any text; values are only samples for generation
    closed: bool = False     # its values are all the slot can be (a Rhino context slot, an HA `values:` list)


@dataclass(frozen=True)
class SlotPiece:
    """A slot inside a rendered piece sequence: its name, value (None = surface) and pieces."""
    name: str
    value: str | None
    pieces: tuple


class TemplateError(ValueError):
    """A template that does not parse; `column` is 0-based within the template string."""

    def __init__(self, message: str, template: str, column: int):
        super().__init__(f"{message} at column {column + 1} of template {template!r}")
        self.column = column


# ---------------------------------------------------------------------------------------------
# Parser (recursive descent)

_SPECIAL = set("()[]<>{}|;\\")


def parse_template(src: str) -> Node:
    """Returns the syntax tree of a template; raises TemplateError naming the column."""
    return _Parser(str(src)).parse()


class _Parser:
    def __init__(self, src: str):
        self.s = src
        self.i = 0

    def error(self, message: str, column: int | None = None):
        raise TemplateError(message, self.s, self.i if column is None else column)

    def parse(self) -> Node:
        node = self.alternation(closer=None)
        return node

    def alternation(self, closer: str | None) -> Node:
        options: list[Node] = []
        perm_parts: list[Node] = []
        items: list[Node] = []
        start = self.i

        def finish_option():
            nonlocal items, perm_parts
            seq = _make_seq(items)
            if perm_parts:
                perm_parts.append(seq)
                options.append(_make_permutation(perm_parts, self))
            else:
                options.append(seq)
            items, perm_parts = [], []

        while True:
            if self.i >= len(self.s):
                if closer is not None:
                    self.error(f"missing '{closer}' for the group opened", start - 1)
                break
            c = self.s[self.i]
            if c == closer:
                break
            if c in ")]>}":
                self.error(f"unexpected '{c}'")
            if c == "|":
                self.i += 1
                finish_option()
            elif c == ";":
                self.i += 1
                perm_parts.append(_make_seq(items))
                items = []
            elif c == "(":
                self.i += 1
                items.append(self.alternation(")"))
                self.i += 1
            elif c == "[":
                self.i += 1
                items.append(Alt((self.alternation("]"), EMPTY)))
                self.i += 1
            elif c == "<":
                items.append(RuleRef(self.name_until(">")))
            elif c == "{":
                ref = self.name_until("}")
                list_name, _, slot_name = ref.partition(":")
                items.append(ListRef(list_name.strip(), (slot_name or list_name).strip()))
            elif c == "\\":
                if self.i + 1 >= len(self.s):
                    self.error("dangling '\\'")
                items.append(Text(self.s[self.i + 1]))
                self.i += 2
            else:
                j = self.i
                while j < len(self.s) and self.s[j] not in _SPECIAL:
                    j += 1
                items.append(Text(self.s[self.i:j]))
                self.i = j
        finish_option()
        return options[0] if len(options) == 1 else Alt(tuple(options))

    def name_until(self, closer: str) -> str:
        opener = self.i
        end = self.s.find(closer, self.i + 1)
        if end < 0:
            self.error(f"missing '{closer}'", opener)
        name = self.s[self.i + 1:end]
        if not name.strip() or any(ch in _SPECIAL for ch in name):
            self.error(f"bad name {name!r} in '{self.s[opener]}...{closer}'", opener)
        self.i = end + 1
        return name.strip()


def _make_seq(items: list[Node]) -> Node:
    merged: list[Node] = []
    for it in items:
        if isinstance(it, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].text + it.text)
        else:
            merged.append(it)
    if len(merged) == 1:
        return merged[0]
    return Seq(tuple(merged))


def _make_permutation(parts: list[Node], parser: _Parser) -> Node:
    """(a;b;c): every order of the parts, separated by spaces."""
    if len(parts) > 5:
        parser.error(f"permutation of {len(parts)} parts is too large (at most 5)")
    orders = []
    for order in itertools.permutations(parts):
        seq: list[Node] = []
        for k, part in enumerate(order):
            if k:
                seq.append(Text(" "))
            seq.append(part)
        orders.append(Seq(tuple(seq)))
    return Alt(tuple(orders))


def walk(node: Node):
    """Yields every node of a tree (not following rule references)."""
    yield node
    if isinstance(node, Seq):
        for it in node.items:
            yield from walk(it)
    elif isinstance(node, Alt):
        for it in node.options:
            yield from walk(it)


# ---------------------------------------------------------------------------------------------
# Grammar: rules + lists, and the operations over trees


class Grammar:
    """Resolves <rule> and {list} references. `rules` maps names to parsed trees, `lists` names
    to SlotList. Missing names raise KeyError(name); callers turn that into DataError."""

    def __init__(self, rules: dict[str, Node], lists: dict[str, SlotList]):
        self.rules = rules
        self.lists = lists
        self._count: dict[int, int] = {}
        self._live: dict = {}     # Alt id / "{list" -> options that can expand (sampling cache)
        self._missing: dict[str, list[str]] = {}   # "<rule" / "{list" -> missing names below it

    def rule(self, name: str) -> Node:
        return self.rules[name]

    def slot_list(self, name: str) -> SlotList:
        return self.lists[name]

    # -- checks ------------------------------------------------------------------------------
    def missing_references(self, node: Node) -> list[str]:
        """Names of rules ('<x>') and lists ('{x}') the tree needs but the grammar lacks, and
        rule cycles ('<x> (recursive)'). Results per rule and list are cached."""
        out: list[str] = []
        for n in walk(node):
            if isinstance(n, RuleRef):
                out += self._missing_in("<" + n.name)
            elif isinstance(n, ListRef):
                out += self._missing_in("{" + n.list_name)
        return out

    def _missing_in(self, key: str) -> list[str]:
        cached = self._missing.get(key)
        if cached is not None:
            return cached
        name = key[1:]
        if key[0] == "<":
            if name not in self.rules:
                return [f"<{name}>"]
            self._missing[key] = [f"<{name}> (recursive)"]    # seen again while in progress
            found = self.missing_references(self.rules[name])
        else:
            if name not in self.lists:
                return [f"{{{name}}}"]
            self._missing[key] = []
            found = [m for v in self.lists[name].values for m in self.missing_references(v.surface)]
        self._missing[key] = found
        return found

    # -- counting ----------------------------------------------------------------------------
    def count(self, node: Node) -> int:
        """Exact number of expansions (paths through the tree; duplicates counted)."""
        key = id(node)
        if key in self._count:
            return self._count[key]
        if isinstance(node, Text):
            n = 1
        elif isinstance(node, Seq):
            n = 1
            for it in node.items:
                n *= self.count(it)
        elif isinstance(node, Alt):
            n = sum(self.count(o) for o in node.options)
        elif isinstance(node, RuleRef):
            n = self.count(self.rule(node.name))
        else:
            n = sum(self.count(v.surface) for v in self.slot_list(node.list_name).values)
        self._count[key] = n
        return n

    # -- enumeration -------------------------------------------------------------------------
    def enumerate(self, node: Node) -> list[tuple]:
        """Every expansion as a piece tuple (str and SlotPiece). Only call when count() is small."""
        if isinstance(node, Text):
            return [(node.text,)]
        if isinstance(node, Seq):
            out = [()]
            for it in node.items:
                sub = self.enumerate(it)
                out = [a + b for a in out for b in sub]
            return out
        if isinstance(node, Alt):
            return [p for o in node.options for p in self.enumerate(o)]
        if isinstance(node, RuleRef):
            return self.enumerate(self.rule(node.name))
        out = []
        for v in self.slot_list(node.list_name).values:
            for p in self.enumerate(v.surface):
                out.append((SlotPiece(node.slot_name, v.value, p),))
        return out

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, node: Node, rng: random.Random) -> tuple:
        """One random expansion: uniform over the options of each alternative (an optional part
        is present half the time), uniform over list values. Options that cannot expand
        (count 0, e.g. an empty list) are never chosen."""
        out: list = []
        self._sample_into(node, rng, out)
        return tuple(out)

    def _sample_into(self, node: Node, rng: random.Random, out: list) -> None:
        # Hot loop of expansion: exact type tests and a loop instead of recursing through
        # single-child choices.
        while True:
            kind = type(node)
            if kind is Text:
                out.append(node.text)
                return
            if kind is Seq:
                for it in node.items:
                    self._sample_into(it, rng, out)
                return
            if kind is Alt:
                live = self.live_options(node)
                node = live[int(rng.random() * len(live))]
            elif kind is RuleRef:
                node = self.rules[node.name]
            else:
                values = self.live_values(node.list_name)
                v = values[int(rng.random() * len(values))]
                inner: list = []
                self._sample_into(v.surface, rng, inner)
                out.append(SlotPiece(node.slot_name, v.value, tuple(inner)))
                return

    def live_options(self, alt: Alt) -> list:
        """The options of an alternative that can expand (count > 0)."""
        live = self._live.get(id(alt))
        if live is None:
            live = self._live[id(alt)] = [o for o in alt.options if self.count(o) > 0]
        return live

    def live_values(self, list_name: str) -> list[ListValue]:
        """The values of a slot list that can expand (count > 0)."""
        key = "{" + list_name
        values = self._live.get(key)
        if values is None:
            values = self._live[key] = [v for v in self.slot_list(list_name).values if self.count(v.surface) > 0]
        return values

    # -- matching ----------------------------------------------------------------------------
    def match(self, node: Node, sentence: str) -> list[tuple]:
        """All ways the template generates `sentence` (case and spacing ignored). Returns a list
        of slot tuples ((name, value, surface), ...); empty if the sentence is not generable."""
        s = " ".join(sentence.lower().split())
        out = []
        for end, slots in self._match(node, s, 0):
            if end == len(s):
                out.append(tuple((n, v if v is not None else s[a:b], s[a:b]) for n, v, a, b in slots))
        return out

    def _match(self, node: Node, s: str, pos: int):
        if isinstance(node, Text):
            end = _match_text(node.text.lower(), s, pos)
            if end is not None:
                yield end, ()
        elif isinstance(node, Seq):
            yield from self._match_seq(node.items, 0, s, pos)
        elif isinstance(node, Alt):
            for o in node.options:
                yield from self._match(o, s, pos)
        elif isinstance(node, RuleRef):
            yield from self._match(self.rule(node.name), s, pos)
        else:
            slot_list = self.slot_list(node.list_name)
            if slot_list.wildcard:
                start = pos + 1 if pos < len(s) and s[pos] == " " else pos
                for end in range(len(s), start, -1):
                    if end == len(s) or s[end] == " ":
                        yield end, ((node.slot_name, None, start, end),)
                return
            for v in slot_list.values:
                for end, inner in self._match(v.surface, s, pos):
                    a, b = _trim(s, pos, end)
                    yield end, inner + ((node.slot_name, v.value, a, b),)

    def _match_seq(self, items: tuple, k: int, s: str, pos: int):
        if k == len(items):
            yield pos, ()
            return
        for mid, first in self._match(items[k], s, pos):
            for end, rest in self._match_seq(items, k + 1, s, mid):
                yield end, first + rest


def _match_text(t: str, s: str, pos: int) -> int | None:
    """Matches literal t at s[pos:]. A space in t matches one space in s, or nothing where the
    rendering would have collapsed it (start, end, or right after a space)."""
    for ch in t:
        if ch.isspace():
            if pos < len(s) and s[pos] == " ":
                pos += 1
            elif not (pos == 0 or pos == len(s) or s[pos - 1] == " "):
                return None
        elif pos < len(s) and s[pos] == ch:
            pos += 1
        else:
            return None
    return pos


def _trim(s: str, a: int, b: int) -> tuple[int, int]:
    while a < b and s[a] == " ":
        a += 1
    while b > a and s[b - 1] == " ":
        b -= 1
    return a, b


# ---------------------------------------------------------------------------------------------
# Covering samples


class Coverage:
    """Covering samples: expansions that together choose every option of every alternative and
    every value of every slot list at least once (the options of an optional part: present and
    absent). Coverage is shared by every template sampled through one Coverage, so a rule or list
    used by many templates is covered once.

        cov = Coverage()
        while cov.pending(grammar, node):
            text, spans = render(cov.sample(grammar, node, rng))

    Each covering sample takes an uncovered option where one is left (at random among them), else
    an option under which something is uncovered, else any option; so each sample covers at least
    one new choice and the loop ends after at most (number of choices) samples.
    """

    def __init__(self):
        self.covered: set = set()     # (id(alt), id(option)) and (id(slot list), id(value))
        self._done: set = set()       # (id(grammar), id(node)) of subtrees with nothing left to cover

    def pending(self, grammar: Grammar, node: Node) -> bool:
        """True if some choice under `node` has not been covered yet."""
        kind = type(node)
        if kind is Text:
            return False
        key = (id(grammar), id(node))
        if key in self._done:
            return False
        if kind is Seq:
            found = any(self.pending(grammar, it) for it in node.items)
        elif kind is Alt:
            live = grammar.live_options(node)
            found = any((id(node), id(o)) not in self.covered for o in live) \
                or any(self.pending(grammar, o) for o in live)
        elif kind is RuleRef:
            found = self.pending(grammar, grammar.rule(node.name))
        else:
            lst = grammar.slot_list(node.list_name)
            values = grammar.live_values(node.list_name)
            found = any((id(lst), id(v)) not in self.covered for v in values) \
                or any(self.pending(grammar, v.surface) for v in values)
        if not found:
            self._done.add(key)
        return found

    def _choose(self, grammar: Grammar, owner, options: list, child, rng: random.Random):
        fresh = [o for o in options if (id(owner), id(o)) not in self.covered]
        if fresh:
            choice = fresh[int(rng.random() * len(fresh))]
            self.covered.add((id(owner), id(choice)))
            return choice
        # Everything here is covered: go where something below is not, trying options in a random
        # order and stopping at the first (pending() walks subtrees, so ask as little as possible).
        start = int(rng.random() * len(options))
        for k in range(len(options)):
            choice = options[(start + k) % len(options)]
            if self.pending(grammar, child(choice)):
                return choice
        return options[start]

    def sample(self, grammar: Grammar, node: Node, rng: random.Random) -> tuple:
        """One expansion steered towards what is not covered yet; marks what it uses as covered."""
        out: list = []
        self._sample_into(grammar, node, rng, out)
        return tuple(out)

    def _sample_into(self, grammar: Grammar, node: Node, rng: random.Random, out: list) -> None:
        while True:
            kind = type(node)
            if kind is Text:
                out.append(node.text)
                return
            if kind is Seq:
                for it in node.items:
                    self._sample_into(grammar, it, rng, out)
                return
            if kind is Alt:
                node = self._choose(grammar, node, grammar.live_options(node), lambda o: o, rng)
            elif kind is RuleRef:
                node = grammar.rule(node.name)
            else:
                lst = grammar.slot_list(node.list_name)
                v = self._choose(grammar, lst, grammar.live_values(node.list_name), lambda o: o.surface, rng)
                inner: list = []
                self._sample_into(grammar, v.surface, rng, inner)
                out.append(SlotPiece(node.slot_name, v.value, tuple(inner)))
                return


# ---------------------------------------------------------------------------------------------
# Rendering


def render(pieces) -> tuple[str, list[tuple[str, str, int, int]]]:
    """Joins pieces into text with whitespace collapsed and stripped. Returns (text, slots) with
    slots as (name, value, start, end); value is the surface text when the piece's value is None.
    Slots with an empty surface are dropped."""
    buf: list[str] = []
    n = 0                 # characters in buf
    last_space = True     # True at the start, so leading whitespace is dropped
    slots: list[tuple[str, str | None, int, int]] = []

    def emit(ps):
        nonlocal n, last_space
        for p in ps:
            if type(p) is SlotPiece:
                start = n
                emit(p.pieces)
                slots.append((p.name, p.value, start, n))
                continue
            if not p:
                continue
            if " " not in p and p.isprintable():     # common case: one word, no spacing to fix
                buf.append(p)
                n += len(p)
                last_space = False
                continue
            words = p.split()
            if p[0].isspace() and not last_space:
                buf.append(" ")
                n += 1
                last_space = True
            if words:
                joined = " ".join(words)
                buf.append(joined)
                n += len(joined)
                last_space = False
                if p[-1].isspace():
                    buf.append(" ")
                    n += 1
                    last_space = True

    emit(pieces)
    text = "".join(buf).rstrip(" ")
    result = []
    for name, value, a, b in slots:
        a, b = _trim(text, a, min(b, len(text)))
        if a < b:
            result.append((name, value if value is not None else text[a:b], a, b))
    return text, result
