"""device/command_vocabulary.py: what the recogniser may hear, built from the intent model's sentences.

    vocab = CommandVocabulary.from_sentences(model.sentences, known_word=decoder_has_word)
    vocab.phrases      # spoken-form sentences ("set the brightness to fifty"), deduplicated, sorted
    vocab.words        # every word in them
    vocab.skipped      # [(sentence, [words the recogniser cannot pronounce])]
    vocab.counts       # with labels=sentence_labels(model, sentences): weights that balance the intents

Sentences are tokenised like the intent model (lower case, letters/digits/apostrophes) and digits are
spelled out (spoken_numbers). A sentence with a word the recogniser has no pronunciation for is skipped
and reported, rather than silently making the grammar unusable.

`garbage_words()` is the out-of-vocabulary fallback: a few hundred frequent English words (the file
garbage_words.txt, made by bench/make_garbage_words.py). They are added to the restricted language model
with a small probability, so speech that is not a command is recognised as garbage words (and then
rejected) instead of being forced onto the nearest command.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Iterable

from safu.device.spoken_numbers import is_number, number_to_words

_WORD = re.compile(r"[a-z0-9\u0080-\uffff]+(?:'[a-z0-9\u0080-\uffff]+)*(?:[.,][0-9]+)*")


def spoken_form(sentence: str) -> list[str]:
    """"Set the light to 50%!" -> ["set", "the", "light", "to", "fifty"]."""
    words: list[str] = []
    for token in _WORD.findall(sentence.lower()):
        bare = token.replace(",", "")
        if is_number(bare):
            try:
                words.extend(number_to_words(bare).split())
                continue
            except ValueError:
                pass
        words.append(token)
    return words


ENTITY_SLOTS = ("name", "area", "floor")  # slots whose values are interchangeable inside a sentence


def slot_values(model) -> dict[str, list[str]]:
    """{slot: surface forms} for the entity-like slots, from the model's synonym table (may be empty)."""
    values: dict[str, set[str]] = {}
    for (slot, surface) in getattr(model, "synonyms", {}) or {}:
        if slot in ENTITY_SLOTS and "'" not in surface:
            values.setdefault(slot, set()).add(surface.lower())
    return {slot: sorted(v) for slot, v in values.items()}


def spoken_values(values: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """{slot: surface forms} -> the same in spoken form ("Room 2" -> "room two")."""
    return {slot: [" ".join(spoken_form(v)) for v in vs] for slot, vs in (values or {}).items()}


def names_pattern(names: Iterable[str]) -> re.Pattern | None:
    """A regex matching any of `names` as whole words, longest first (so "kitchen lights" wins over
    "kitchen"); None for no names. One capture group: re.split keeps the matched names."""
    ordered = sorted({n for n in names if n.strip()}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in ordered) + r")\b") if ordered else None


def with_slot_variants(phrases: list[str], values: dict[str, list[str]], per_carrier: int = 8,
                       seed: int = 0) -> list[str]:
    """Adds copies of each sentence with its entity names swapped for other names of the same slot.

    The model's sentences are a sample of templates x entities, so "turn on the" may never precede
    "porch light" in them; without this the recogniser's language model would find that command unlikely.
    Each distinct carrier ("turn on the <name>") gets `per_carrier` names drawn at random (seeded)."""
    surface_slot = {v: slot for slot, vs in values.items() for v in vs}
    if not surface_slot:
        return list(phrases)
    pattern = names_pattern(surface_slot)
    rng = random.Random(seed)
    out, carriers = set(phrases), set()
    for phrase in phrases:
        parts = pattern.split(phrase)  # odd indices are matched surfaces
        if len(parts) == 1:
            continue
        carrier = tuple(surface_slot[p] if i % 2 else p for i, p in enumerate(parts))
        if carrier in carriers:
            continue
        carriers.add(carrier)
        for _ in range(per_carrier):
            out.add("".join(rng.choice(values[p]) if i % 2 else p for i, p in enumerate(carrier)))
    return sorted(out)


@dataclass
class CommandVocabulary:
    phrases: list[str]
    words: list[str]
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)
    counts: list[int] | None = None  # times each phrase counts in the language model (None: once each)

    @classmethod
    def from_sentences(cls, sentences: Iterable[str], known_word: Callable[[str], bool] = lambda w: True,
                       values: dict[str, list[str]] | None = None, labels: Iterable[str | None] | None = None):
        """values: {slot: surface forms} to swap into the sentences (see with_slot_variants).
        labels: each sentence's intent (see sentence_labels); with them every intent gets about the same
        weight in the language model, however many sentences its templates expand to (see intent_counts)."""
        sentences = list(sentences)
        labels = [None] * len(sentences) if labels is None else list(labels)
        if len(labels) != len(sentences):
            raise ValueError(f"{len(labels)} labels for {len(sentences)} sentences")
        groups: dict[str | None, list[str]] = {}
        for sentence, label in zip(sentences, labels):
            groups.setdefault(label, []).append(sentence)
        spoken = spoken_values(values)
        grouped: dict[str | None, set[str]] = {}
        skipped = []
        for label, group in groups.items():
            if spoken:
                group = with_slot_variants([" ".join(spoken_form(s)) for s in group], spoken)
            phrases = grouped.setdefault(label, set())
            for sentence in group:
                words = spoken_form(sentence)
                if not words:
                    continue
                missing = sorted({w for w in words if not known_word(w)})
                if missing:
                    skipped.append((sentence, missing))
                    continue
                phrases.add(" ".join(words))
        ordered = sorted(set().union(*grouped.values()))
        if not ordered:
            detail = f" ({len(skipped)} skipped for unpronounceable words, e.g. {skipped[0]})" if skipped else ""
            raise ValueError(f"no usable sentences to build a recognition grammar from{detail}")
        counts = intent_counts(ordered, grouped) if len(grouped) > 1 else None
        words = sorted({w for p in ordered for w in p.split()})
        return cls(phrases=ordered, words=words, skipped=skipped, counts=counts)


def intent_counts(phrases: list[str], grouped: dict[str | None, set[str]]) -> list[int]:
    """How many times each phrase is counted so that every intent weighs about the same.

    The model's sentences give each intent the same share, but deduplicated and with names swapped in
    they do not: in the built-in model HassShoppingListCompleteItem ("(check|complete|delete|remove)
    (off;<item>) ...") has 1,808 phrases, HassGetCurrentTime ("what time is it" and its kin) 35. Counted
    once each, the language model found "time" unlikely after a first "what" (3 of 1,495 phrases), and
    3 of 5 voices were heard as "what's our the date". So a phrase of an intent with fewer phrases than
    the median intent counts median / size times (rounded, at least once; the built-in model's median is
    about 1,000); a phrase of several intents adds their counts. Intents above the median keep one count
    per phrase. Whole counts keep the language model's absolute discounting valid."""
    sizes = sorted(len(group) for group in grouped.values() if group)
    median = sizes[len(sizes) // 2]
    times: dict[str, int] = {}
    for group in grouped.values():
        for phrase in group:
            times[phrase] = times.get(phrase, 0) + max(1, round(median / len(group)))
    return [times[p] for p in phrases]


def sentence_labels(model, sentences: Iterable[str]) -> list[str | None]:
    """The intent the model gives each of its sentences (None: below its threshold), for from_sentences."""
    return [model.predict(s).intent for s in sentences]


def garbage_words(exclude: Iterable[str] = ()) -> list[str]:
    """The shipped out-of-vocabulary word list, minus `exclude` (the command words)."""
    excluded = set(exclude)
    text = resources.files("safu.device").joinpath("garbage_words.txt").read_text(encoding="utf-8")
    return [w for w in word_list(text) if w not in excluded]


def word_list(text: str) -> list[str]:
    """One word per line; '#' starts a comment; blank lines are skipped (the garbage_words.txt format)."""
    return [w for w in (line.split("#")[0].strip() for line in text.splitlines()) if w]
