"""Turning templates into a balanced, seeded set of examples (shared by the Home Assistant and
Rhino readers).

    from safu.runtime.datasets.expand import TemplateSentence, expand_templates
    examples, lines = expand_templates(sentences, cap=2000, seed=0)

Per intent, the cap is shared out over its templates by water-filling: a template with fewer
expansions than its share is enumerated completely (so short sentences such as "what time is it"
are always present) and the rest is split evenly among the larger ones. A larger template first
gets covering samples (every option of every alternative and every slot value at least once,
template.Coverage), then uniform samples (uniform over the options of each alternative) up to its
share. Duplicates are dropped. The random stream of an
intent depends only on (seed, intent name), so adding a file does not reshuffle other intents.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .common import Example, SlotSpan
from .template import Coverage, Grammar, ListRef, Node, RuleRef, render, walk


@dataclass
class TemplateSentence:
    """One template of one intent, with the grammar that resolves it and its fixed slots."""
    intent: str
    node: Node
    grammar: Grammar
    fixed: dict[str, str] = field(default_factory=dict)
    source: str = ""          # "file:line", for messages


@dataclass
class ExpansionStats:
    possible: int = 0          # total expansions over all templates (duplicates counted)
    produced: int = 0
    templates: int = 0
    empty: list[str] = field(default_factory=list)   # sources of templates with no expansion
    per_intent: dict[str, tuple[int, int]] = field(default_factory=dict)   # intent -> (possible, produced)
    covering: int = 0          # produced examples that are enumerations or covering samples
    uncovered: list[str] = field(default_factory=list)   # intents whose covering set did not fit the cap


def _quotas(counts: list[int], cap: int) -> list[int]:
    """Water-filling: small templates get all their expansions, the rest share what is left."""
    order = sorted(range(len(counts)), key=lambda i: counts[i])
    quotas = [0] * len(counts)
    remaining = cap
    for k, i in enumerate(order):
        share = remaining // (len(counts) - k)
        quotas[i] = min(counts[i], share)
        remaining -= quotas[i]
    return quotas


def _add_skip_word(text: str, spans: list[SlotSpan], word: str, rng: random.Random):
    """Puts a politeness word that Home Assistant ignores before or after the command."""
    at_end = word in ("for me", "please") and (word == "for me" or rng.random() < 0.5)
    if at_end:
        return f"{text} {word}", spans
    shift = len(word) + 1
    return f"{word} {text}", [s if s.fixed else SlotSpan(s.name, s.start + shift, s.end + shift, s.value)
                              for s in spans]


def _example(intent: str, pieces: tuple, fixed: dict[str, str]) -> Example:
    text, slots = render(pieces)
    spans = [SlotSpan(name, a, b, value) for name, value, a, b in slots]
    spanned = {s.name for s in spans}
    spans += [SlotSpan(k, -1, -1, str(v)) for k, v in fixed.items() if k not in spanned]
    return Example(text, intent, spans)


def expand_templates(sentences: list[TemplateSentence], cap: int, seed: int = 0,
                     skip_words: list[str] | None = None, skip_word_rate: float = 0.0,
                     strict_cap: bool = False) -> tuple[list[Example], ExpansionStats]:
    """Returns (examples, stats): distinct examples per intent, intents in sorted order.

    Every template too large to enumerate first gets covering samples (template.Coverage): every
    option of every alternative and every slot value at least once. Then uniform samples fill the
    template's share of `cap`. With strict_cap, an intent has at most `cap` examples (covering
    ones kept first, so coverage can be incomplete: stats.uncovered names those intents); without,
    an intent whose covering set is larger than `cap` keeps all of it. `skip_words` (Home
    Assistant's ignored words such as "please") are added to a `skip_word_rate` fraction of the
    sampled sentences."""
    by_intent: dict[str, list[TemplateSentence]] = {}
    for s in sentences:
        by_intent.setdefault(s.intent, []).append(s)
    stats = ExpansionStats(templates=len(sentences))
    examples: list[Example] = []
    for intent in sorted(by_intent):
        rng = random.Random(f"{seed}:{intent}")
        group = [s for s in by_intent[intent] if s.grammar.count(s.node) > 0]
        stats.empty += [s.source for s in by_intent[intent] if s.grammar.count(s.node) == 0]
        counts = [s.grammar.count(s.node) for s in group]
        possible = sum(counts)
        seen: set[str] = set()
        out: list[Example] = []

        def add(s: TemplateSentence, pieces: tuple, sampled: bool) -> bool:
            ex = _example(intent, pieces, s.fixed)
            if sampled and skip_words and rng.random() < skip_word_rate:
                ex.text, ex.slots = _add_skip_word(ex.text, ex.slots, rng.choice(skip_words), rng)
            if not ex.text or ex.text in seen:
                return False
            seen.add(ex.text)
            out.append(ex)
            return True

        quotas = _quotas(counts, cap)
        big = []
        coverage = Coverage()
        for s, n, q in zip(group, counts, quotas):
            if n <= q:
                for pieces in s.grammar.enumerate(s.node):
                    add(s, pieces, sampled=False)
            else:
                before = len(out)
                while coverage.pending(s.grammar, s.node):
                    add(s, coverage.sample(s.grammar, s.node, rng), sampled=True)
                big.append((s, q - (len(out) - before)))   # what is left of its share
        covering = len(out)
        for s, q in big:
            got, tries = 0, 0
            while got < q and tries < 4 * q:
                tries += 1
                got += add(s, s.grammar.sample(s.node, rng), sampled=True)
        # Top up what duplicates cost, drawing from the templates that still have room.
        target = min(cap, possible)
        tries = 0
        while big and len(out) < target and tries < 4 * cap:
            tries += 1
            s = rng.choice(big)[0]
            add(s, s.grammar.sample(s.node, rng), sampled=True)
        keep = cap if strict_cap else max(cap, covering)
        if strict_cap and covering > cap:
            stats.uncovered.append(intent)
        out = out[:keep]
        stats.possible += possible
        stats.covering += min(covering, keep)
        stats.produced += len(out)
        stats.per_intent[intent] = (possible, len(out))
        examples += out
    return examples, stats


MAX_CLOSED_SURFACES = 1000   # a value without `out` whose surface has more renderings leaves its slot open


def closed_slots(sentences: list[TemplateSentence]) -> dict[str, list[str]]:
    """{slot: its values, sorted, as the lists spell them} for the slots that only closed lists fill
    (SlotList.closed) in every template that has them. A value is the list value's canonical form
    (`out`), else each rendering of its surface; a fixed slot's values (Home Assistant `slots:`)
    join its slot's list. A slot that any template fills from an open list (wildcard, range,
    inventory names, a built-in number) is left out, as is a value too large to enumerate."""
    values: dict[str, set] = {}
    fixed: dict[str, set] = {}
    open_slots: set[str] = set()
    done: set = set()   # (id(grammar), id(node or list)) already walked

    def visit(grammar: Grammar, node) -> None:
        for n in walk(node):
            if isinstance(n, RuleRef):
                key = (id(grammar), "<" + n.name)
                if key not in done:
                    done.add(key)
                    visit(grammar, grammar.rule(n.name))
            elif isinstance(n, ListRef):
                lst = grammar.slot_list(n.list_name)
                key = (id(grammar), id(lst), n.slot_name)
                if key in done:
                    continue
                done.add(key)
                if not lst.closed or n.slot_name in open_slots:
                    open_slots.add(n.slot_name)
                    continue
                into = values.setdefault(n.slot_name, set())
                for v in lst.values:
                    if v.value is not None:
                        into.add(str(v.value))
                    elif grammar.count(v.surface) > MAX_CLOSED_SURFACES:
                        open_slots.add(n.slot_name)
                        break
                    else:
                        into.update(render(p)[0] for p in grammar.enumerate(v.surface))
                for v in lst.values:   # a value's own surface may name other lists
                    visit(grammar, v.surface)

    for s in sentences:
        visit(s.grammar, s.node)
        for k, v in s.fixed.items():
            fixed.setdefault(k, set()).add(str(v))
    return {slot: sorted(vals | fixed.get(slot, set())) for slot, vals in sorted(values.items())
            if slot not in open_slots and vals}


def sampling_note(stats: ExpansionStats, cap: int, strict_cap: bool) -> str:
    """How the sentences were chosen, for a report line: the cap and the covering set."""
    how = f"at most {cap:,} per intent" if strict_cap else \
        f"{cap:,} per intent, more if covering needs it"
    if stats.uncovered:
        cover = (f"{len(stats.uncovered)} intents need more than {cap:,} sentences to cover every alternative "
                 f"and slot value, e.g. {stats.uncovered[0]!r}: partly covered")
    else:
        cover = f"every alternative and slot value covered by {stats.covering:,} of them"
    return f"{how}; {cover}"


def format_count(n: int) -> str:
    """12,345 for readable sizes, 1.23e+15 for astronomical ones."""
    return f"{n:,}" if n < 10**9 else f"{n:.3g}"


def match_sentence(sentences: list[TemplateSentence], text: str) -> list[tuple[str, dict[str, str]]]:
    """(intent, slots) for every template that generates `text`; slots include fixed ones."""
    out = []
    for s in sentences:
        for slots in s.grammar.match(s.node, text):
            values = {name: value for name, value, _surface in slots}
            for k, v in s.fixed.items():
                values.setdefault(k, v)
            out.append((s.intent, values))
    return out
