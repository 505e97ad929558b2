"""device/pipeline.py: microphone/file -> utterance -> transcript -> intent -> action, one event each.

    loop = VoiceLoop(model, make_recognizer("pocketsphinx", model.sentences), ActionRunner.default())
    for event in loop.run([WavSource("turn_on.wav")]):
        print(json.dumps(event))

An event is a dict: source, start_s/end_s (stream time), transcript (what the intent model read), asr
(the words acted on, accepted, reason; `best`: the recogniser's best hypothesis, which differs from
`words` when a runner-up was the first one the intent model understood; `alternatives`: how many
runners-up there were; `loudness_range_db`: loudest against quietest frames, an estimate of the
speech-to-noise ratio, or null), intent, confidence, slots, action (what was done, or null), reason
(why nothing was done) and timings in ms: endpoint (audio time the endpointer waited after speech ended),
asr, nlu, action, and latency = endpoint + asr + nlu + action, the delay a speaker waits between the end
of speech and the switch when audio arrives in real time.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator

from safu.device.actuators import ActionContext
from safu.device.audio import AudioSource
from safu.device.endpointer import Endpointer, Utterance


class VoiceLoop:
    def __init__(self, model, recognizer, runner=None, endpointer: Endpointer | None = None,
                 min_confidence: float | None = None):
        self.model = model
        self.recognizer = recognizer
        self.runner = runner
        self.endpointer = endpointer or Endpointer()
        self.min_confidence = min_confidence

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
            prediction = self.model.predict(candidate.text)
            if prediction.intent is not None:
                return candidate, prediction
            fallback = fallback or (candidate, prediction)
        return fallback or (transcript, None)

    def handle(self, utt: Utterance, source_name: str = "") -> dict:
        heard = self.recognizer.recognize(utt.samples)
        t0 = time.perf_counter()
        transcript, prediction = self.understand(heard)
        nlu_s = time.perf_counter() - t0
        event = {"source": source_name, "start_s": round(utt.start_s, 3), "end_s": round(utt.end_s, 3),
                 "ended_by": utt.ended_by, "transcript": transcript.text,
                 "asr": {"engine": self.recognizer.name, "restricted": self.recognizer.restricted,
                         "words": transcript.words, "accepted": transcript.accepted, "reason": transcript.reason,
                         "best": heard.words, "alternatives": len(heard.alternatives),
                         "loudness_range_db": heard.loudness_range_db},
                 "intent": None, "confidence": 0.0, "slots": {}, "action": None, "reason": None}
        timings = {"endpoint_ms": 1000 * utt.endpoint_delay_s, "asr_ms": 1000 * heard.decode_s,
                   "nlu_ms": 1000 * nlu_s, "action_ms": 0.0}
        if prediction is None:
            event["reason"] = f"speech rejected: {transcript.reason}"
        else:
            event.update(intent=prediction.intent, confidence=round(float(prediction.confidence), 4),
                         slots=dict(prediction.slots))
            if prediction.intent is None:
                event["reason"] = prediction.reason or "out of scope"
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
