"""device/transcript_checks.py: which hypotheses of a restricted recogniser may be acted on.

    checks = TranscriptChecks(vocabulary.phrases, garbage, values)
    checks.transcript("turn on the kitchen light", utterance_range_db=25.0).accepted    # True
    checks.transcript("turn on the the kitchen light").reason   # 'a word twice in a row (the the)'

A transcript is accepted only if it has no garbage word, no word twice in a row, every adjacent word
pair in some command, and at most max_unseen_trigrams word triples found in no command (with entity
names as one word class as a second chance, EntityClasses); an utterance whose loudness range is below
noisy_below_db may have none missing. With phrases None (open vocabulary) only the garbage rule applies
(docs/voice.md, "Runners-up and word checks").
"""
from __future__ import annotations

from safu.device.command_vocabulary import names_pattern, spoken_values
from safu.device.recognizer import Transcript, judge
from safu.device.spoken_numbers import words_to_digits

MAX_UNSEEN_TRIGRAMS = 1  # word triples no command contains, allowed in an accepted transcript, see above
NOISY_BELOW_DB = 20.0  # an utterance whose loudness range is below this is noisy: no such triple allowed
TRIM_FINAL_WORD = False  # try a rejected hypothesis without its last word (TranscriptChecks.trimmed)
ENTITY = "<entity>"  # stands for any entity name in the class-level word triples


def word_ngrams(phrase: str, n: int) -> list[tuple[str, ...]]:
    """Runs of n adjacent words with sentence start/end marks (""): word_ngrams("turn on", 2) ->
    [("", "turn"), ("turn", "on"), ("on", "")]; with n=3 the first is ("", "", "turn")."""
    words = [""] * (n - 1) + phrase.split() + [""]
    return list(zip(*(words[i:] for i in range(n))))


class EntityClasses:
    """Entity names (the model's name/area/floor values, spoken form) replaced by one word class:
    "set the thermostat to nineteen" -> "set the <entity> to nineteen". The language model's sentences
    pair each carrier with only a few names (command_vocabulary.with_slot_variants), so a real command
    can miss word triples only because its name never stood in that carrier."""

    def __init__(self, values: dict[str, list[str]] | None):
        self._pattern = names_pattern(v for vs in (values or {}).values() for v in vs)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, phrase: str) -> str:
        return self._pattern.sub(ENTITY, phrase) if self._pattern else phrase


class TranscriptChecks:
    """The word checks over the command phrases (spoken form; None: open vocabulary, garbage rule only).
    garbage: the out-of-vocabulary words the language model knows; values: {slot: surfaces} for the
    entity classes; max_unseen_trigrams: None turns the trigram check off; noisy_below_db: 0 never
    counts an utterance as noisy; trim_final_word: see trimmed()."""

    def __init__(self, phrases: list[str] | None, garbage: set[str], values: dict[str, list[str]] | None = None,
                 max_unseen_trigrams: int | None = MAX_UNSEEN_TRIGRAMS, noisy_below_db: float = NOISY_BELOW_DB,
                 trim_final_word: bool = TRIM_FINAL_WORD):
        self.restricted = phrases is not None
        self.garbage = garbage
        self.max_unseen_trigrams = max_unseen_trigrams
        self.noisy_below_db = noisy_below_db
        self.trim_final_word = trim_final_word
        phrases = phrases or []
        self.bigrams = {pair for phrase in phrases for pair in word_ngrams(phrase, 2)}
        self.trigrams = {triple for phrase in phrases for triple in word_ngrams(phrase, 3)}
        self.entity_classes = EntityClasses(spoken_values(values) if self.restricted else None)
        self.class_trigrams = set()
        if self.entity_classes:
            self.class_trigrams = {triple for phrase in phrases for triple in word_ngrams(self.entity_classes(phrase), 3)}

    def transcript(self, words: str, utterance_range_db: float = float("inf")) -> Transcript:
        """words -> Transcript, accepted or not by the word checks; utterance_range_db: the utterance's
        loudness range (audio_conditioning.loudness_range_db); below noisy_below_db no word triple may
        be missing from the commands."""
        accepted, reason = judge(words, self.garbage)
        if accepted and self.restricted:
            accepted, reason = self._in_commands(words, utterance_range_db)
        measured = None if utterance_range_db == float("inf") else round(float(utterance_range_db), 1)
        return Transcript(text=words_to_digits(words), words=words, accepted=accepted, reason=reason, decode_s=0.0,
                          loudness_range_db=measured)

    def _in_commands(self, words: str, utterance_range_db: float) -> tuple[bool, str | None]:
        """The word-pair, doubled-word and word-triple checks of a transcript with no garbage word."""
        tokens = words.split()
        doubled = [a for a, b in zip(tokens, tokens[1:]) if a == b]
        unseen = [pair for pair in word_ngrams(words, 2) if pair not in self.bigrams]
        if unseen:  # a word sequence no command contains: speech forced onto command words
            return False, "word sequence in no command (" + " ".join(unseen[0]).strip() + ")"
        if doubled:  # "whats the the date": a template leftover the language model learnt, not a command
            return False, f"a word twice in a row ({doubled[0]} {doubled[0]})"
        if self.max_unseen_trigrams is None:
            return True, None
        noisy = utterance_range_db < self.noisy_below_db
        allowed = 0 if noisy else self.max_unseen_trigrams
        unseen = [triple for triple in word_ngrams(words, 3) if triple not in self.trigrams]
        if len(unseen) > allowed and self.entity_classes:  # a name in a carrier it never stood in?
            classed = word_ngrams(self.entity_classes(words), 3)
            if sum(triple not in self.class_trigrams for triple in classed) <= allowed:
                unseen = []
        if len(unseen) <= allowed:
            return True, None
        shown = ", ".join(" ".join(triple).strip() for triple in unseen)
        plural = "s" if len(unseen) > 1 else ""
        reason = f"{len(unseen)} word sequence{plural} in no command ({shown})"
        if noisy:
            reason += f", none allowed in noisy speech ({utterance_range_db:.0f} dB loudness range)"
        return False, reason

    def trimmed(self, hypotheses: list[Transcript], utterance_range_db: float) -> list[Transcript]:
        """With trim_final_word: each rejected hypothesis without its last word, where that passes the word
        checks and the last word could not go on from the one before it in any command (noise after the
        speech decoded as a word: "... with milk can"; not "... iced coffee with", whose "with" says that
        more was said); tried after every hypothesis as heard. Empty otherwise."""
        if not self.trim_final_word:
            return []
        seen = {t.words for t in hypotheses}
        out = []
        for t in hypotheses:
            tokens = t.words.split()
            if t.accepted or len(tokens) < 2 or (tokens[-2], tokens[-1]) in self.bigrams:
                continue
            shorter = " ".join(tokens[:-1])
            if shorter in seen:
                continue
            seen.add(shorter)
            candidate = self.transcript(shorter, utterance_range_db)
            if candidate.accepted:
                candidate.reason = f"last word left out ({tokens[-1]})"
                out.append(candidate)
        return out
