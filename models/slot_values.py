"""Known slot values as decoding evidence (docs/intent_model.md "Slot decoding").

    entries = slot_value_entries(examples, tokenised)          # ["size\ttwenty ounce", ...]
    values = SlotValues(entries, vocab.lookup, slot_labels, VALUE_BONUS)
    E = values.evidence(ids)                                   # (n, S) added to log p_slot

Training stores every slot value seen in the training sentences (Rhino slot phrases, Home
Assistant list values, dataset annotations) as `slot.values`, its tokens joined by one space. At
decoding, a run of input tokens equal to a stored value of slot x adds `slot.value_bonus` to the
log-probability of B-x at its first token and of I-x at the others, so the Viterbi path prefers
spans that are whole known values; the tagger still decides (a bonus, not a rule), and values
never seen keep their chance.

Closed lists. A slot whose values all come from a closed list (every Rhino context slot, a Home
Assistant list with `values:`; not wildcards, ranges, inventory names or annotated free text) is
stored as `slot.closed`: one "slot<TAB>value" entry per value, the value as the list spells it
(its canonical form, what a prediction reports after synonyms). Decoding does not read it: the
tagger may still read a value off the list, and ClosedSlots.off_list says which slots of a
prediction hold one (the voice loop refuses such a command, docs/voice.md).

    closed = ClosedSlots.from_metadata(model.metadata)        # None: no slot is closed
    closed.off_list({"milkAmount": "a"})                      # [("milkAmount", "a")]
"""
from __future__ import annotations

import numpy as np

from safu.models.tokenizer import is_number, tokenize

# log-probability added per token of a span that is a known value. SNIPS slot F1 on 1,000 held-out
# sentences of train_full: 0.850 without, 0.860 / 0.862 / 0.862 / 0.861 at 1 / 2 / 3 / 4.
VALUE_BONUS = 2.0


def slot_value_entries(examples, tokenised) -> list[str]:
    """Sorted distinct "slot<TAB>surface" of every spanned slot in the examples; surface = the
    span's tokens (lower case, as the tokenizer gives them) joined by one space. Numeric values
    (a range's "21", "twenty one" -> 21) are left out: every number would match every numeric
    slot alike, and Home Assistant's ranges alone hold 2,400 of them."""
    out = set()
    for ex, toks in zip(examples, tokenised):
        for s in getattr(ex, "slots", []):
            if s.start < 0 or s.end <= s.start or is_number(str(s.value)):
                continue
            surface = " ".join(t.text for t in toks if t.start < s.end and t.end > s.start)
            if surface:
                out.add(f"{s.name}\t{surface}")
    return sorted(out)


class SlotValues:
    """The stored values as token-id sequences, grouped by length for one dictionary lookup per
    (start, length) of the input."""

    def __init__(self, entries: list[str], lookup, labels: list[str], bonus: float):
        index = {lab: i for i, lab in enumerate(labels)}
        self.bonus = float(bonus)
        self.n_labels = len(labels)
        self.by_length: dict[int, dict[tuple[int, ...], list[tuple[int, int]]]] = {}
        for entry in entries:
            name, surface = entry.split("\t")
            ids = tuple(int(lookup(tok)) for tok in surface.split(" "))
            b, i = index.get(f"B-{name}"), index.get(f"I-{name}")
            if b is None or i is None:
                continue
            self.by_length.setdefault(len(ids), {}).setdefault(ids, []).append((b, i))

    def evidence(self, ids) -> np.ndarray:
        """(n, S) float64: bonus where a stored value matches, else 0."""
        ids = tuple(int(t) for t in ids)
        n = len(ids)
        E = np.zeros((n, self.n_labels))
        for m, table in self.by_length.items():
            for a in range(n - m + 1):
                for b, i in table.get(ids[a:a + m], ()):
                    E[a, b] = self.bonus
                    E[a + 1:a + m, i] = self.bonus
        return E


def closed_key(value: str) -> str:
    """A value as ClosedSlots compares it: its tokens (lower case, punctuation out, as the tokenizer
    gives them) joined by one space: "Twenty ounce," and "twenty ounce" are the same value."""
    return " ".join(t.text for t in tokenize(str(value)))


def closed_slot_entries(closed: dict, slot_names) -> list[str]:
    """Sorted distinct "slot<TAB>value" of the closed lists {slot: values}, for the slots of
    `slot_names` (the model's tagged slots); values empty after tokenisation are left out."""
    names = set(slot_names)
    return sorted({f"{slot}\t{value}" for slot, values in closed.items() if slot in names
                   for value in values if closed_key(value) and "\t" not in str(value)})


class ClosedSlots:
    """The closed lists of a model's `slot.closed`: {slot: the normalised values (closed_key)}."""

    def __init__(self, entries):
        self.values: dict[str, frozenset] = {}
        table: dict[str, set] = {}
        for entry in entries:
            slot, tab, value = str(entry).partition("\t")
            if not tab or not slot or not value or "\t" in value:
                raise ValueError(f"slot.closed entry {entry!r} is not slot\\tvalue")
            table.setdefault(slot, set()).add(closed_key(value))
        self.values = {slot: frozenset(v) for slot, v in table.items()}

    @classmethod
    def from_metadata(cls, metadata) -> "ClosedSlots | None":
        """The model's closed lists, or None when it has none (model files without slot.closed)."""
        entries = (metadata or {}).get("slot.closed")
        return cls(entries) if entries else None

    def off_list(self, slots: dict) -> list[tuple[str, str]]:
        """(slot, value) of each closed slot of `slots` whose value is not on its list, by slot name."""
        return [(slot, value) for slot, value in sorted(slots.items())
                if slot in self.values and closed_key(value) not in self.values[slot]]
