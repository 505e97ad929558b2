"""device/pipeline.py: microphone/file -> utterance -> transcript -> intent -> action, one event each.

    loop = VoiceLoop(model, make_recognizer("pocketsphinx", model.sentences), ActionRunner.default())
    for event in loop.run([WavSource("turn_on.wav")]):
        print(json.dumps(event))

An event is a dict: type "utterance", source, start_s/end_s (stream time), transcript (what the intent
model read), asr (the words acted on, accepted, reason; `best`: the recogniser's best hypothesis, which
differs from `words` when a runner-up was the first one the intent model understood; `alternatives`: how
many runners-up there were; `loudness_range_db`: loudest against quietest frames, an estimate of the
speech-to-noise ratio, or null; `agreeing` of `decoders`: how many of the recogniser's decoders heard
the command too, null when nothing was checked, see VoiceLoop.confirm; `rival`: the likeliest other slot
value of the prompt-free check, {"words", "margin", "rivals", "snr_db", "taken"}, null when nothing was
checked, see VoiceLoop.value_check), intent, confidence, slots,
heard_intent/heard_slots, action, reason (why nothing was done), error, and timings in ms: endpoint
(audio time the endpointer waited after speech ended), wait (time the loop was still busy with earlier
audio when the end was decided), asr (voicing check and recognition, with the other warps when they
were asked), early (the part of asr done before the end was decided, see below), nlu (with the
agreement check), action, and latency = endpoint + wait + asr - early + nlu + action, the delay a
speaker waits between the end of speech and the switch when audio arrives in real time.

Early recognition. When the endpointer keeps less non-speech after the last word (its `tail`) than it
waits for (its hangover), it offers the utterance as a tentative cut as soon as the tail has passed
(Endpointer.utterances(tentative=True)). The loop hears it then (voicing check and recogniser), while
the audio of the hangover comes in (a live source buffers it: MicrophoneSource queues its blocks);
when the end is confirmed with no new speech, the final utterance has the same samples and that
transcript is used, so the speaker waits about max(hangover, tail + recognition) rather than their sum.
Speech that resumes makes the tentative transcript stale: it is dropped and the longer utterance is
heard when it ends. Latency is counted in stream time: recognition of a tentative cut starts at its
end_s or when the loop is free, whichever is later; a stale one keeps the loop busy (wait) all the same.

`intent` is the command accepted, or null: a consumer can act on `intent` alone. `heard_intent` and
`heard_slots` are what the intent model read, accepted or not (a command the decoders did not agree on,
or below --min-confidence, has `intent` null and its reading there; out-of-scope speech has both null).

Before an utterance is decoded, its voicing is checked (device/speech_evidence.py): with under
MIN_VOICED_FRACTION of its loud frames voiced, or under MIN_CONTOUR_S of steady pitch contour, it is not
speech and is not decoded (`reason` "no speech: ...", `asr.voiced_fraction`; None for digital silence,
left to the recogniser). After it is understood, a transcript of up to SHORT_WORDS words that is shorter
than every training sentence of its intent is not acted on (VoiceLoop.too_short: noise heard as "on" or
"shut"), nor a command without a slot that every model sentence of its intent has (VoiceLoop.missing_slots:
a coffee order without its drink), nor one whose closed-list slot holds a value off its list
(VoiceLoop.off_list: milkAmount "a"). bench/bench_soak.py measures the first two (false actions per hour of
kitchen noise).

Misheard slot values (VoiceLoop.confirm, docs/voice.md section 6): in noisy speech (VoiceLoop.noisy) a
command is not acted on when its transcript holds a slot value the model knows outside every span it
tagged (VoiceLoop.unread_value: "with a lot of sweetener and some sweetener"), nor when a slot word is
disputed in the lattice of a decoder whose best path it is (VoiceLoop.slot_words_doubt, word posteriors
from PocketSphinx). A recogniser that can score sentences against the utterance (Whisper: rival_scores,
in loud noise) has the command's slot values checked against the other values of their slots: a rival
the audio, heard without the recogniser's prompt, finds much likelier is acted on instead
(VoiceLoop.value_check: "give me a medium mocha" for the "latte" Whisper heard primed with its prompt).

Nothing one utterance does stops the loop. An exception while decoding, understanding or acting ends
that utterance only: its event has `error` ("decoding failed: ..."; else null) and the loop goes on
with the next one. A source that fails while being read gives one event with `error` ("reading audio
failed: ...") and the loop goes on with the next source.

Actions. With an ActionRunner the loop acts before returning the event (`action`: the runner's result,
{"rule", "steps"}). With an ActionWorker (what `safu listen` uses) acting happens on the worker's thread,
so a device that hangs never holds up listening: the event is printed as soon as the command is heard,
with `"action": {"queued": true, "id": N, "rule": R, "waiting": W}`, and the outcome follows as a line
of its own, `{"type": "action", "id": N, ...}` (see ActionWorker), when the device has answered or the
step's deadline has passed; a step that timed out says `"timed_out": true` and is not run again. A
command that finds MAX_WAITING actions already waiting is dropped: `"action": {"queued": false, ...}`
and `error` says so. No rule for the intent: `"action": {"queued": false, "rule": null, "reason"}`.
The action of an utterance is handed to the worker only once its event has been yielded by `run`, so
the event always comes out before the outcome of its action.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Iterable, Iterator

from safu.device.actuators import ActionContext
from safu.device.audio import AudioSource
from safu.device.endpointer import Endpointer, Utterance
from safu.device.speech_evidence import MIN_VOICED_FRACTION, speech_evidence
from safu.device.spoken_numbers import words_to_digits


log = logging.getLogger("safu.device.pipeline")

SHORT_WORDS = 3  # transcripts of up to this many words must be as long as some sentence of their intent
MIN_SENTENCES_FOR_REQUIRED = 10  # an intent's slots count as required only over at least this many sentences


def slot_word_mask(words: str, prediction) -> list[bool]:
    """For each of the recogniser's `words`, is it inside a slot span of `prediction` (read from the
    intent model's text, words_to_digits(words), whose number words are digits)?"""
    return [k is not None for k in word_spans(words, prediction)]


def word_spans(words: str, prediction) -> list[int | None]:
    """For each of the recogniser's `words`, the index of the slot span of `prediction` it is inside
    (prediction.spans, read from words_to_digits(words)), or None."""
    text = prediction.text
    starts, pos = [], 0
    for token in text.split():  # each token's character offset in the text
        pos = text.index(token, pos)
        starts.append(pos)
        pos += len(token)
    spans = getattr(prediction, "spans", None) or []
    in_span = [next((n for n, s in enumerate(spans) if s.start <= start < s.end), None) for start in starts]
    tokens = words.split()
    found = []
    for i in range(len(tokens)):  # the text token word i became: count the tokens of the words up to it
        k = len(words_to_digits(" ".join(tokens[:i + 1])).split()) - 1
        found.append(in_span[k] if 0 <= k < len(in_span) else None)
    return found


def describe(exc: BaseException) -> str:
    """One line for an exception: its type and message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def command_key(prediction) -> tuple:
    """What makes two predictions the same command: the intent and its slot values (case aside)."""
    slots = sorted((slot, str(value).lower()) for slot, value in prediction.slots.items())
    return prediction.intent, tuple(slots)


class VoiceLoop:
    def __init__(self, model, recognizer, runner=None, endpointer: Endpointer | None = None,
                 min_confidence: float | None = None, min_voiced_fraction: float | None = MIN_VOICED_FRACTION,
                 early: bool = True):
        """min_voiced_fraction: an utterance with a smaller share of voiced loud frames is not decoded
        (device/speech_evidence.py; None or 0: every utterance is decoded). early: recognise an
        utterance during the endpointer's hangover when the endpointer offers tentative cuts (see
        "Early recognition" in the module docstring)."""
        self.model = model
        self.early = early
        self._heard_early = None  # (utterance key, _Hearing) of the last tentative cut
        self._busy_until = 0.0    # stream time at which the loop is done with what it was given
        self.min_voiced_fraction = min_voiced_fraction
        self.recognizer = recognizer
        self.runner = runner
        self.endpointer = endpointer or Endpointer()
        self.min_confidence = min_confidence
        self._predictions: dict[str, object] = {}
        self._readings: list[tuple[str, str, frozenset]] | None = None  # the model's sentences as it reads them
        self._shortest: dict[str, int] | None = None  # intent -> words of its shortest model sentence
        self._required: dict[str, set] | None = None  # intent -> slots every model sentence of it has
        self._values: dict[tuple, str] | None = None  # the model's slot values, see unread_value
        self._spoken_values: dict[str, list[tuple[str, ...]]] | None = None  # {slot: values}, see value_rivals

    def run(self, sources: Iterable[AudioSource]) -> Iterator[dict]:
        """One event per utterance of each source in turn; see the module docstring for errors."""
        self.model_readings()  # read the model's sentences now, not inside the first command's latency
        getattr(self.model, "closed_slots", None)  # and its closed lists (a cached property of IntentModel)
        for source in sources:
            self._heard_early, self._busy_until = None, 0.0
            try:
                utterances = self.endpointer.utterances(source, tentative=self.early)
                while True:
                    try:
                        utt = next(utterances)
                    except StopIteration:
                        break
                    except Exception as exc:  # noqa: BLE001 - a broken source ends only itself
                        log.warning("%s: reading audio failed: %s", source.name, describe(exc))
                        yield self._event(None, source.name, error=f"reading audio failed: {describe(exc)}")
                        break
                    if not utt.final:
                        self._hear_early(utt)
                        continue
                    event, pending = self._handle(utt, source.name)
                    try:
                        yield event
                    finally:  # also when the consumer stops early: the command was heard
                        if pending is not None:
                            self._start(pending)
            finally:
                source.close()

    def _hear(self, utt: Utterance) -> "_Hearing":
        """The voicing check and, when it passes, the recogniser's transcript of `utt`."""
        t0 = time.perf_counter()
        voiced = doubt = heard = None
        if self.min_voiced_fraction:
            evidence = speech_evidence(utt.samples)
            voiced = evidence.to_dict()["voiced_fraction"]
            doubt = evidence.doubt(self.min_voiced_fraction)
        check_s = time.perf_counter() - t0
        if not doubt:
            heard = self.recognizer.recognize(utt.samples)
            return _Hearing(voiced, None, heard, check_s + heard.decode_s)
        return _Hearing(voiced, doubt, None, check_s)

    def _hear_early(self, utt: Utterance) -> None:
        """A tentative cut: heard now, kept for the final utterance if it turns out the same. A failure
        keeps nothing (the final utterance is heard afresh and reports it)."""
        start = max(utt.end_s, self._busy_until)
        self._heard_early = None
        t0 = time.perf_counter()
        try:
            hearing = self._hear(utt)
        except Exception as exc:  # noqa: BLE001 - heard again, and reported, when the end is decided
            log.debug("early recognition failed: %s", describe(exc))
            self._busy_until = start + time.perf_counter() - t0
            return
        hearing.start_s = start
        self._busy_until = start + hearing.seconds
        self._heard_early = (_key(utt), hearing)

    def understand(self, transcript):
        """(transcript, prediction) for the first hypothesis, best or runner-up, that the recogniser
        accepts and the intent model maps to an intent; else (best transcript, its prediction or None)."""
        fallback = None
        for candidate in [transcript] + list(transcript.alternatives):
            if not candidate.accepted:
                continue
            prediction = self._predict(candidate.text)
            if prediction.intent is not None:
                return candidate, prediction
            fallback = fallback or (candidate, prediction)
        return fallback or (transcript, None)

    def confirm(self, heard, prediction) -> tuple[int | None, str | None]:
        """Do enough of the recogniser's decoders hear this command? -> (how many do, or None when there
        is nothing to check; why not, or None).

        A decoder hears it when one of its own hypotheses (best path or N-best) passes the word checks and
        the intent model reads the same intent and slot values from it. Out-of-scope speech forced onto
        command words comes out differently from one warp to the next, a command mostly the same.

        A command fewer decoders hear that way is still acted on when a majority of all the recogniser's
        decoders (majority_needed: more than half of them, asked or not) have a hypothesis the intent
        model reads as it, whether or not that hypothesis passes the word checks (`in_any_form`). The word
        checks decide which words may be acted on, and the transcript acted on has passed them; a warp
        whose words for the same command fail them ("set a timer for ten me the date" for "... ten
        minutes", "the off the kettle" for "turn off the kettle") still heard that command. Half the
        warps or fewer is no second opinion: out-of-scope speech is heard as one command by half the
        warps at times ("let us go to the beach on saturday" as "lift up to seventy two ..." by 3 of 6)."""
        if prediction is None or prediction.intent is None:
            return None, None
        unread = self.unread_value(prediction) if self.noisy(heard) else None
        if unread:
            return None, unread
        need = self.agreement_needed
        if need <= 1 or not heard.opinions:
            return None, None
        want = command_key(prediction)
        agreeing = 0
        for hypotheses in heard.opinions:
            for candidate in hypotheses:
                if candidate.accepted and command_key(self._predict(candidate.text)) == want:
                    agreeing += 1
                    break
        if agreeing < need:
            decoders, majority = len(heard.opinions), self.majority_needed
            majority = majority and max(majority, need)  # never fewer than min_agreeing
            reason = f"heard as this command by {agreeing} of {decoders} decoders, {need} needed"
            if majority:
                in_any_form = sum(any(command_key(self._predict(c.text)) == want for c in hypotheses)
                                  for hypotheses in heard.opinions)
                if in_any_form < majority:
                    return agreeing, (f"{reason}; {in_any_form} with the word checks aside, {majority} of "
                                      f"{self.recognizer.decoders} needed")
            else:
                return agreeing, reason
        return agreeing, self.slot_words_doubt(heard, prediction)

    def slot_words_doubt(self, heard, prediction) -> str | None:
        """In noisy speech, why the decoders' lattices doubt the slot words of this command, or None.

        Applies when the utterance's loudness range (the speech-to-noise estimate) is below the
        recogniser's slot_posterior_below_db. The decoders whose best path the model reads as this
        command are looked at (at least one must be), and in each of them every word inside a slot span
        must have a lattice posterior of at least min_slot_posterior: in kitchen noise the warps agree
        on a value the noise made ("drip coffee" heard as "an coffee", "whole milk" as "milk"), but their
        lattices hold rivals for its words that a value actually said seldom has."""
        floor = getattr(self.recognizer, "min_slot_posterior", 0.0) or 0.0
        noise = heard.loudness_range_db
        if floor <= 0.0 or not self.noisy(heard) or not heard.opinions:
            return None
        want = command_key(prediction)
        lowest, reading = None, 0
        for hypotheses in heard.opinions:
            best = hypotheses[0] if hypotheses else None
            if best is None or not best.accepted or best.word_posteriors is None:
                continue
            own = self._predict(best.text)
            if command_key(own) != want:
                continue
            reading += 1
            posteriors = [p for p, in_slot in zip(best.word_posteriors, slot_word_mask(best.words, own)) if in_slot]
            if posteriors:
                lowest = min(posteriors) if lowest is None else min(lowest, min(posteriors))
        if reading == 0:
            return f"no decoder's best path is this command ({noise:.0f} dB loudness range)"
        if lowest is not None and lowest < math.log(floor):
            return (f"a slot word has posterior {math.exp(lowest):.2f}, {floor:.2f} needed in noisy speech "
                    f"({noise:.0f} dB loudness range)")
        return None

    def noisy(self, heard) -> bool:
        """Is the utterance's loudness range (the speech-to-noise estimate) below the recogniser's
        slot_posterior_below_db? Only then do the slot-value checks apply: in clean speech a value the
        tagger left out is the tagger's miss ("turn on the kitchen lights" with no span on "lights"), not
        a mishearing."""
        below = getattr(self.recognizer, "slot_posterior_below_db", 0.0) or 0.0
        noise = heard.loudness_range_db
        return noise is not None and noise < below

    def unread_value(self, prediction) -> str | None:
        """Why the command read from this transcript is not what was said, or None: the transcript holds
        a slot value the model knows (its training values, metadata "slot.values") outside every span
        the model tagged, so that the command acted on would leave out something the speaker said.

        In noise the recogniser turns one value into another of the same kind and the language model
        lets it stand beside the first ("with a lot of sweetener and some sweetener", said "... and
        some soy milk"); the tagger reads one of them, and the action would be wrong. A command says
        each value once, so a value the model did not read is taken as a mishearing."""
        values = self._value_table()
        if not values:
            return None
        tokens = prediction.text.lower().split()
        covered = [False] * len(tokens)
        starts, pos = [], 0
        for k, token in enumerate(tokens):  # token k's character offset in the text
            pos = prediction.text.lower().index(token, pos)
            starts.append(pos)
            pos += len(token)
        for span in getattr(prediction, "spans", None) or []:
            for k, start in enumerate(starts):
                if span.start <= start < span.end:
                    covered[k] = True
        longest = max(len(v) for v in values)
        for a in range(len(tokens)):
            if covered[a]:
                continue
            for m in range(min(longest, len(tokens) - a), 0, -1):
                run = tuple(tokens[a:a + m])
                if run in values and not any(covered[a:a + m]):
                    return (f"{' '.join(run)!r} ({values[run]}) heard outside the command the model read")
        return None

    def _value_table(self) -> dict[tuple, str]:
        """{value tokens: slot} of the model's training slot values (metadata "slot.values"), read once."""
        if self._values is None:
            self._values = {tuple(surface.lower().split()): slot for slot, surface in self._slot_value_entries()}
        return self._values

    def _slot_value_entries(self) -> list[tuple[str, str]]:
        """(slot, surface) of each of the model's training slot values (metadata "slot.values", one
        "slot<TAB>surface" per entry), empty surfaces left out."""
        entries = []
        for entry in (getattr(self.model, "metadata", None) or {}).get("slot.values", ()) or ():
            slot, _, surface = str(entry).partition("\t")
            if surface.strip():
                entries.append((slot, surface))
        return entries

    def value_check(self, transcript, prediction) -> tuple[dict | None, object | None]:
        """(the likeliest rival {"words", "margin", "rivals", "snr_db"}, or None when nothing was checked;
        the rival's Transcript when it is to be acted on instead, else None): the recogniser's prompt-free
        check of the slot values (Whisper: WhisperRecognizer.rival_scores, on utterances heard in loud
        noise only).

        The rivals are the transcript with one slot value swapped for another value of the same slot
        (value_rivals: "mocha" for "latte", "some sugar" for "some sweetener"); the recogniser scores them
        and the transcript against the utterance without its prompt, whose list of command words leans the
        decoder towards a value it has just read. A rival at least the recogniser's `value_switch` nats
        likelier than the words heard is what was said ("give me a medium latte" scored 7 nats below "...
        mocha", said "mocha", in kitchen noise at 6 dB); closer than that, the words heard stand: in loud
        noise the unprimed decoder is wrong as often as the primed one (right commands 2-4 nats below a
        rival such as "iced coffee" for "iced mocha")."""
        scorer = getattr(self.recognizer, "rival_scores", None)
        if scorer is None or not transcript.accepted or not getattr(transcript, "audio", None):
            return None, None
        rivals = self.value_rivals(transcript.words, prediction)
        if not rivals:
            return None, None
        scores = scorer(transcript, [transcript.words] + rivals)
        if scores is None:
            return None, None
        k = max(range(len(rivals)), key=lambda i: scores[i + 1])
        margin = float(scores[0] - scores[k + 1])
        rival = {"words": rivals[k], "margin": round(margin, 2), "rivals": len(rivals), "taken": False}
        if getattr(transcript, "snr_db", None) is not None:
            rival["snr_db"] = round(float(transcript.snr_db), 1)
        switch = getattr(self.recognizer, "value_switch", None)
        if switch is None or margin > -switch:
            return rival, None
        from safu.device.recognizer import Transcript
        rival["taken"] = True
        return rival, Transcript(text=words_to_digits(rivals[k]), words=rivals[k], accepted=True, reason=None,
                                 decode_s=transcript.decode_s)

    def value_rivals(self, words: str, prediction) -> list[str]:
        """`words` with one slot value (a span of `prediction`) swapped for each other value of its slot
        the model knows (metadata "slot.values", in spoken form), the ones the model reads as another
        command; in the order of the spans, then of the values."""
        tokens = words.split()
        where = word_spans(words, prediction)
        key = command_key(prediction)
        table = self._slot_values()
        rivals, seen = [], {words}
        for n, span in enumerate(getattr(prediction, "spans", None) or []):
            inside = [i for i, k in enumerate(where) if k == n]
            if not inside:
                continue
            a, b = inside[0], inside[-1] + 1
            for value in table.get(span.name, ()):
                text = " ".join(tokens[:a] + list(value) + tokens[b:])
                if text in seen:
                    continue
                seen.add(text)
                if command_key(self._predict(words_to_digits(text))) != key:
                    rivals.append(text)
        return rivals

    def _slot_values(self) -> dict[str, list[tuple[str, ...]]]:
        """{slot: its values in spoken form, each once} from the model's metadata "slot.values", read once."""
        if self._spoken_values is None:
            from safu.device.command_vocabulary import spoken_form
            self._spoken_values = {}
            for slot, surface in self._slot_value_entries():
                value = tuple(spoken_form(surface))
                if value and value not in self._spoken_values.setdefault(slot, []):
                    self._spoken_values[slot].append(value)
        return self._spoken_values

    def too_short(self, text: str, intent: str) -> bool:
        """Is `text` (SHORT_WORDS words or fewer) shorter than every training sentence of `intent`?

        Noise and half-heard speech come out of the restricted recogniser as one or two command words
        ("on", "shut", "fan", "pause") that the intent model maps to an intent with confidence, though no
        sentence of it is that short: "on" is HassTurnOn, whose shortest sentences have two words."""
        n = len(text.split())
        if n > SHORT_WORDS or not getattr(self.model, "sentences", None):
            return False
        if self._shortest is None:
            self._shortest = {}
            for sentence, read_intent, _ in self.model_readings():
                k = len(sentence.split())
                self._shortest[read_intent] = min(k, self._shortest.get(read_intent, k))
        return n < self._shortest.get(intent, n + 1)

    def missing_slots(self, prediction) -> list[str]:
        """The slots that every model sentence of the prediction's intent has, as the model reads them, and
        the prediction lacks. A command cut short or half heard in noise ("and a lot of brown sugar") is
        not a coffee order without its drink. Read once, from the model's sentences; an intent with fewer
        than MIN_SENTENCES_FOR_REQUIRED of them requires nothing."""
        return sorted(self.required_slots().get(prediction.intent, set()) - set(prediction.slots))

    def off_list(self, prediction) -> list[tuple[str, str]]:
        """(slot, value) of each closed-list slot of the prediction whose value is not on its list
        (metadata "slot.closed": every Rhino context slot, Home Assistant `values:` lists; compared
        as the list spells it, after synonyms). In kitchen noise the tagger splits a value the
        recogniser half heard ("with a lot of sugar" as milkAmount "a", sugarAmount "lot of sugar")
        and the machine would make something else; a model without closed slots checks nothing."""
        off_list = getattr(self.model, "off_list", None)  # IntentModel.off_list; other models check nothing
        return off_list(prediction) if off_list is not None else []

    def required_slots(self) -> dict[str, set]:
        """{intent: the slots every model sentence of it has, as the model reads them}, read once."""
        if self._required is None:
            counts: dict[str, int] = {}
            common: dict[str, set] = {}
            for _, intent, slots in self.model_readings():
                counts[intent] = counts.get(intent, 0) + 1
                common[intent] = common[intent] & slots if intent in common else set(slots)
            self._required = {i: slots for i, slots in common.items()
                              if slots and counts[i] >= MIN_SENTENCES_FOR_REQUIRED}
        return self._required

    def model_readings(self) -> list[tuple[str, str, frozenset]]:
        """(sentence, intent, slot names) of each distinct model sentence the model reads as an intent, read
        once: the evidence of too_short and required_slots."""
        if self._readings is None:
            self._readings = []
            for sentence in sorted(set(getattr(self.model, "sentences", None) or ())):
                try:
                    read = self.model.predict(sentence)
                except Exception:  # noqa: BLE001 - a sentence the model cannot read is no evidence, and
                    continue       # these checks must not fail the utterance they guard
                if read.intent is not None:
                    self._readings.append((sentence, read.intent, frozenset(read.slots)))
        return self._readings

    @property
    def agreement_needed(self) -> int:
        """Decoders that must hear a command (the recogniser's min_agreeing; 1: no check)."""
        return self.recognizer.min_agreeing

    @property
    def majority_needed(self) -> int | None:
        """More than half of the recogniser's decoders (its `decoders`, PocketSphinx: one per warp), the
        decoders that must have a hypothesis read as a command fewer than agreement_needed hear with the
        word checks passed (see confirm); None when the recogniser does not say how many it has."""
        decoders = getattr(self.recognizer, "decoders", None)
        return decoders // 2 + 1 if decoders else None

    def _predict(self, text: str):
        if text not in self._predictions:
            self._predictions[text] = self.model.predict(text)
        return self._predictions[text]

    def handle(self, utt: Utterance, source_name: str = "") -> dict:
        """The event for one utterance (acted on, or its action queued, before it returns). Never raises
        an Exception: a failure is the event's `error`. The utterance is heard on its own: no stream
        clock carries over from earlier calls."""
        self._heard_early, self._busy_until = None, 0.0
        event, pending = self._handle(utt, source_name)
        if pending is not None:
            self._start(pending)
        return event

    def _event(self, utt: Utterance | None, source_name: str, error: str | None = None) -> dict:
        """The event with nothing heard yet (every key there, so that its shape never changes)."""
        return {"type": "utterance", "source": source_name,
                "start_s": None if utt is None else round(utt.start_s, 3),
                "end_s": None if utt is None else round(utt.end_s, 3),
                "ended_by": None if utt is None else utt.ended_by, "transcript": None,
                "asr": {"engine": self.recognizer.name,
                        "restricted": self.recognizer.restricted, "words": None,
                        "accepted": False, "reason": None, "best": None, "alternatives": 0,
                        "loudness_range_db": None, "agreeing": None, "decoders": 0, "voiced_fraction": None,
                        "rival": None},
                "intent": None, "confidence": 0.0, "slots": {}, "heard_intent": None,
                "heard_slots": {}, "action": None, "reason": error, "error": error,
                "timings": {"endpoint_ms": 0.0 if utt is None else round(1000 * utt.endpoint_delay_s, 1),
                            "wait_ms": 0.0, "asr_ms": 0.0, "early_ms": 0.0, "nlu_ms": 0.0, "action_ms": 0.0,
                            "latency_ms": 0.0}}

    def _handle(self, utt: Utterance, source_name: str) -> tuple[dict, int | None]:
        """(event, the id of the action the worker holds until the event is out, or None)."""
        self._predictions = {}  # this utterance's hypotheses, read once each
        event = self._event(utt, source_name)
        timings = {"endpoint_ms": 1000 * utt.endpoint_delay_s, "wait_ms": 0.0, "asr_ms": 0.0, "early_ms": 0.0,
                   "nlu_ms": 0.0, "action_ms": 0.0}
        stage, pending = "decoding", None
        early, self._heard_early = self._heard_early, None
        try:
            if early is not None and early[0] == _key(utt):
                hearing = early[1]  # heard during the hangover, and no speech came after
            else:
                hearing = self._hear(utt)
                hearing.start_s = max(utt.end_s, self._busy_until)
            # Stream time: the hearing began at start_s (the end decided at end_s) and took `seconds`.
            timings["wait_ms"] = 1000 * max(0.0, hearing.start_s - utt.end_s)
            timings["asr_ms"] = 1000 * hearing.seconds
            timings["early_ms"] = 1000 * min(hearing.seconds, max(0.0, utt.end_s - hearing.start_s))
            voiced, heard, asr_s = hearing.voiced, hearing.heard, hearing.seconds
            event["asr"]["voiced_fraction"] = voiced
            if hearing.doubt:  # noise: not decoded, nothing to act on
                event["reason"] = f"no speech: {hearing.doubt}"
                return self._timed(event, timings, utt), None
            stage = "understanding"
            t0 = time.perf_counter()
            transcript, prediction = self.understand(heard)
            agreeing, doubt = self.confirm(heard, prediction)
            nlu_s = time.perf_counter() - t0
            understood = prediction is not None and prediction.intent is not None
            if (doubt or not understood) and self.agreement_needed > 1:
                # No command that enough of the chosen decoders agree on: ask the others too (PocketSphinx:
                # the warps the pitch left out), and rank and check afresh over all of them.
                stage = "decoding"
                wider = self.recognizer.widen()
                if wider is not None:
                    heard, asr_s = wider, asr_s + wider.decode_s
                    timings["asr_ms"] = 1000 * asr_s
                    stage = "understanding"
                    t0 = time.perf_counter()
                    transcript, prediction = self.understand(heard)
                    agreeing, doubt = self.confirm(heard, prediction)
                    nlu_s += time.perf_counter() - t0
            rival = None
            if not doubt and prediction is not None and prediction.intent is not None:
                t0 = time.perf_counter()
                rival, taken = self.value_check(transcript, prediction)
                if taken is not None:  # the audio, heard without the prompt, says another slot value
                    transcript, prediction = taken, self._predict(taken.text)
                    agreeing, doubt = self.confirm(heard, prediction)
                nlu_s += time.perf_counter() - t0
            timings["nlu_ms"] = 1000 * nlu_s
            event.update(transcript=transcript.text,
                         asr={"engine": self.recognizer.name, "restricted": self.recognizer.restricted,
                              "words": transcript.words, "accepted": transcript.accepted,
                              "reason": transcript.reason, "best": heard.words,
                              "alternatives": len(heard.alternatives),
                              "loudness_range_db": heard.loudness_range_db, "agreeing": agreeing,
                              "decoders": len(heard.opinions), "voiced_fraction": voiced, "rival": rival})
            if prediction is None:
                event["reason"] = f"speech rejected: {transcript.reason}"
            else:
                event.update(confidence=round(float(prediction.confidence), 4), heard_intent=prediction.intent,
                             heard_slots=dict(prediction.slots))
                if prediction.intent is None:
                    event["reason"] = prediction.reason or "out of scope"
                elif doubt:
                    event["reason"] = f"speech rejected: {doubt}"
                elif self.too_short(transcript.text, prediction.intent):
                    words = len(transcript.text.split())
                    event["reason"] = (f"speech rejected: {words} word{'s' if words > 1 else ''}, shorter than "
                                       f"every {prediction.intent} sentence of the model")
                elif missing := self.missing_slots(prediction):
                    event["reason"] = (f"speech rejected: no {', '.join(missing)}, which every "
                                       f"{prediction.intent} sentence of the model has")
                elif off := self.off_list(prediction):
                    event["reason"] = "speech rejected: " + "; ".join(
                        f"{slot} {value!r} is not one of the model's {slot} values" for slot, value in off)
                elif self.min_confidence is not None and prediction.confidence < self.min_confidence:
                    event["reason"] = (f"confidence {prediction.confidence:.3f} below --min-confidence "
                                       f"{self.min_confidence:.3f}")
                else:
                    event.update(intent=prediction.intent, slots=dict(prediction.slots))
                    stage = "acting"
                    context = ActionContext(prediction.intent, dict(prediction.slots), transcript.text,
                                            float(prediction.confidence))
                    if self.runner is None:
                        event["reason"] = "no actions configured"
                    elif hasattr(self.runner, "submit"):  # an ActionWorker: started once the event is out
                        about = {"source": source_name, "start_s": event["start_s"], "transcript": transcript.text}
                        event["action"] = self.runner.submit(context, about, hold=True)
                        pending = event["action"]["id"] if event["action"]["queued"] else None
                        if event["action"].get("error"):
                            event["error"] = event["reason"] = f"acting failed: {event['action']['error']}"
                        elif event["action"].get("reason"):
                            event["reason"] = event["action"]["reason"]
                    else:
                        t0 = time.perf_counter()
                        event["action"] = self.runner.run(context)
                        timings["action_ms"] = 1000 * (time.perf_counter() - t0)
                        if event["action"]["rule"] is None:
                            event["reason"] = event["action"]["reason"]
                        elif not all(step["ok"] for step in event["action"]["steps"]):
                            event["reason"] = "action failed: " + "; ".join(
                                s["error"] for s in event["action"]["steps"] if not s["ok"])
        except Exception as exc:  # noqa: BLE001 - one utterance never stops the loop
            error = f"{stage} failed: {describe(exc)}"
            log.warning("%s at %.2f s: %s", source_name or "audio", utt.start_s, error)
            log.debug("traceback", exc_info=True)
            if pending is not None:  # cannot happen after a submit, but never leave an action held
                self._start(pending)
            if stage != "acting":  # acting: the command stays the one accepted, its action failed
                event.update(intent=None, slots={})
            event.update(action=None, reason=error, error=error)
            pending = None
        return self._timed(event, timings, utt), pending

    def _timed(self, event: dict, timings: dict, utt: Utterance) -> dict:
        """The event with its timings, latency_ms their total (endpoint + wait + asr - early + nlu +
        action); the loop is busy until the stream time the speaker waits for."""
        timings["latency_ms"] = (timings["endpoint_ms"] + timings["wait_ms"] + timings["asr_ms"]
                                 - timings["early_ms"] + timings["nlu_ms"] + timings["action_ms"])
        self._busy_until = max(self._busy_until, utt.speech_end_s + timings["latency_ms"] / 1000)
        event["timings"] = {k: round(v, 1) for k, v in timings.items()}
        return event

    def _start(self, pending: int) -> None:
        """Lets the worker begin the action it holds for this event."""
        self.runner.release(pending)


def _key(utt: Utterance) -> tuple:
    """What makes a final utterance the tentative cut heard early: the same start, end of speech and samples."""
    return utt.start_s, utt.speech_end_s, len(utt.samples)


class _Hearing:
    """What VoiceLoop._hear found: voiced fraction, why it is not speech (or None), the transcript (None
    when not decoded), the seconds it took, and the stream time it began (start_s)."""

    def __init__(self, voiced, doubt, heard, seconds: float):
        self.voiced, self.doubt, self.heard, self.seconds = voiced, doubt, heard, seconds
        self.start_s = 0.0
