"""device/pipeline.py: microphone/file -> utterance -> transcript -> intent -> action, one event each.

    loop = VoiceLoop(model, make_recognizer("pocketsphinx", model.sentences), ActionRunner.default())
    for event in loop.run([WavSource("turn_on.wav")]):
        print(json.dumps(event))

An event is a dict: source, start_s/end_s (stream time), transcript (what the intent model read), asr
(the words acted on, accepted, reason; `best`: the recogniser's best hypothesis, which differs from
`words` when a runner-up was the first one the intent model understood; `alternatives`: how many
runners-up there were; `loudness_range_db`: loudest against quietest frames, an estimate of the
speech-to-noise ratio, or null; `agreeing` of `decoders`: how many of the recogniser's decoders heard
the command too, null when nothing was checked, see VoiceLoop.confirm), intent, confidence, slots,
action (what was done, or null), reason (why nothing was done) and timings in ms: endpoint (audio time
the endpointer waited after speech ended), asr (with the other warps, when they were asked), nlu (with
the agreement check), action, and latency = the sum of those, the delay a speaker waits between the end
of speech and the switch when audio arrives in real time.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator

from safu.device.actuators import ActionContext
from safu.device.audio import AudioSource
from safu.device.endpointer import Endpointer, Utterance


def command_key(prediction) -> tuple:
    """What makes two predictions the same command: the intent and its slot values (case aside)."""
    slots = sorted((slot, str(value).lower()) for slot, value in prediction.slots.items())
    return prediction.intent, tuple(slots)


class VoiceLoop:
    def __init__(self, model, recognizer, runner=None, endpointer: Endpointer | None = None,
                 min_confidence: float | None = None):
        self.model = model
        self.recognizer = recognizer
        self.runner = runner
        self.endpointer = endpointer or Endpointer()
        self.min_confidence = min_confidence
        self._predictions: dict[str, object] = {}

    def run(self, sources: Iterable[AudioSource]) -> Iterator[dict]:
        for source in sources:
            try:
                for utt in self.endpointer.utterances(source):
                    yield self.handle(utt, source.name)
            finally:
                source.close()

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
        command words comes out differently from one warp to the next, a command mostly the same."""
        need = self.agreement_needed
        if prediction is None or prediction.intent is None or need <= 1 or not heard.opinions:
            return None, None
        want = command_key(prediction)
        agreeing = 0
        for hypotheses in heard.opinions:
            for candidate in hypotheses:
                if candidate.accepted and command_key(self._predict(candidate.text)) == want:
                    agreeing += 1
                    break
        if agreeing < need:
            decoders = len(heard.opinions)
            return agreeing, f"heard as this command by {agreeing} of {decoders} decoders, {need} needed"
        return agreeing, None

    @property
    def agreement_needed(self) -> int:
        """Decoders that must hear a command (the recogniser's min_agreeing; 1: no check)."""
        return getattr(self.recognizer, "min_agreeing", 1)

    def _predict(self, text: str):
        if text not in self._predictions:
            self._predictions[text] = self.model.predict(text)
        return self._predictions[text]

    def handle(self, utt: Utterance, source_name: str = "") -> dict:
        self._predictions = {}  # this utterance's hypotheses, read once each
        heard = self.recognizer.recognize(utt.samples)
        asr_s = heard.decode_s
        t0 = time.perf_counter()
        transcript, prediction = self.understand(heard)
        agreeing, doubt = self.confirm(heard, prediction)
        nlu_s = time.perf_counter() - t0
        understood = prediction is not None and prediction.intent is not None
        if (doubt or not understood) and self.agreement_needed > 1 and hasattr(self.recognizer, "widen"):
            # No command that enough of the chosen decoders agree on: ask the others too (PocketSphinx:
            # the warps the pitch left out), and rank and check afresh over all of them.
            wider = self.recognizer.widen()
            if wider is not None:
                heard, asr_s = wider, asr_s + wider.decode_s
                t0 = time.perf_counter()
                transcript, prediction = self.understand(heard)
                agreeing, doubt = self.confirm(heard, prediction)
                nlu_s += time.perf_counter() - t0
        event = {"source": source_name, "start_s": round(utt.start_s, 3), "end_s": round(utt.end_s, 3),
                 "ended_by": utt.ended_by, "transcript": transcript.text,
                 "asr": {"engine": self.recognizer.name, "restricted": self.recognizer.restricted,
                         "words": transcript.words, "accepted": transcript.accepted, "reason": transcript.reason,
                         "best": heard.words, "alternatives": len(heard.alternatives),
                         "loudness_range_db": heard.loudness_range_db, "agreeing": agreeing,
                         "decoders": len(heard.opinions)},
                 "intent": None, "confidence": 0.0, "slots": {}, "action": None, "reason": None}
        timings = {"endpoint_ms": 1000 * utt.endpoint_delay_s, "asr_ms": 1000 * asr_s,
                   "nlu_ms": 1000 * nlu_s, "action_ms": 0.0}
        if prediction is None:
            event["reason"] = f"speech rejected: {transcript.reason}"
        else:
            event.update(intent=prediction.intent, confidence=round(float(prediction.confidence), 4),
                         slots=dict(prediction.slots))
            if prediction.intent is None:
                event["reason"] = prediction.reason or "out of scope"
            elif doubt:
                event["reason"] = f"speech rejected: {doubt}"
            elif self.min_confidence is not None and prediction.confidence < self.min_confidence:
                event["reason"] = (f"confidence {prediction.confidence:.3f} below --min-confidence "
                                   f"{self.min_confidence:.3f}")
            elif self.runner is None:
                event["reason"] = "no actions configured"
            else:
                t0 = time.perf_counter()
                context = ActionContext(prediction.intent, dict(prediction.slots), transcript.text,
                                        float(prediction.confidence))
                event["action"] = self.runner.run(context)
                timings["action_ms"] = 1000 * (time.perf_counter() - t0)
                if event["action"]["rule"] is None:
                    event["reason"] = event["action"]["reason"]
                elif not all(step["ok"] for step in event["action"]["steps"]):
                    event["reason"] = "action failed: " + "; ".join(
                        s["error"] for s in event["action"]["steps"] if not s["ok"])
        timings["latency_ms"] = sum(timings.values())
        event["timings"] = {k: round(v, 1) for k, v in timings.items()}
        return event
