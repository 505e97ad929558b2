"""Early recognition: the endpointer offers a tentative cut once `tail` seconds of non-speech follow
speech, the voice loop recognises it during the rest of the hangover and uses that transcript when the
end is confirmed with no new speech (device/endpointer.py, device/pipeline.py). Real PocketSphinx and
espeak-ng speech; the recogniser is wrapped only to count its calls."""
import numpy as np
import pytest

from device_support import fixture_model_path, read_wav, speak
from safu.device.audio import ArraySource
from safu.device.endpointer import FRAME_SAMPLES, FRAME_SECONDS, Endpointer, EnergyVad
from safu.device.pipeline import VoiceLoop


def bursts(layout, rate=16000, seed=0):
    """layout: [(seconds, loud?)] -> noise bursts (amplitude 0.3) between near-silence (1e-4)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_normal(int(s * rate)).astype(np.float32) * (0.3 if loud else 1e-4)
                           for s, loud in layout])


def cuts(x, tentative=True, **settings):
    ep = Endpointer(EnergyVad(), pre_roll=0.3, **settings)
    return list(ep.utterances(ArraySource(x), tentative=tentative))


def test_a_tentative_cut_comes_tail_after_the_speech_and_the_final_one_has_its_samples():
    x = bursts([(1, False), (1, True), (1.5, False)])
    tentative, final = cuts(x, hangover=0.6, tail=0.2)
    assert (tentative.final, tentative.ended_by, final.final, final.ended_by) == (False, "pause", True, "silence")
    assert abs(final.speech_end_s - 2.0) < 0.1
    assert tentative.end_s == pytest.approx(tentative.speech_end_s + 0.21, abs=1e-6)  # 7 frames of 30 ms
    assert final.end_s == pytest.approx(final.speech_end_s + 0.6, abs=1e-6)
    assert (tentative.start_s, tentative.speech_end_s) == (final.start_s, final.speech_end_s)
    assert np.array_equal(tentative.samples, final.samples)
    # the samples end `tail` after the last speech frame, not at the end of the hangover
    assert len(final.samples) == round((final.speech_end_s - final.start_s) / FRAME_SECONDS + 7) * FRAME_SAMPLES
    # without asking for them, no tentative cuts; the same final utterance
    (only,) = cuts(x, tentative=False, hangover=0.6, tail=0.2)
    assert only.final and np.array_equal(only.samples, final.samples)


def test_without_a_tail_the_utterance_keeps_the_whole_hangover_and_nothing_is_tentative():
    x = bursts([(1, False), (1, True), (1.5, False)])
    (utt,) = cuts(x, hangover=0.6)
    assert utt.final and len(utt.samples) == round((utt.end_s - utt.start_s) / FRAME_SECONDS) * FRAME_SAMPLES


def test_speech_after_a_pause_makes_the_tentative_cut_stale():
    # a 0.4-s pause: longer than the tail, shorter than the hangover -> one utterance
    x = bursts([(1, False), (0.8, True), (0.4, False), (0.8, True), (1.5, False)])
    found = cuts(x, hangover=0.6, tail=0.2)
    assert [u.final for u in found] == [False, False, True]
    stale, last, final = found
    assert stale.speech_end_s < 2.0 and len(stale.samples) < len(final.samples)
    assert np.array_equal(last.samples, final.samples) and abs(final.speech_end_s - 3.0) < 0.1


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from safu.runtime.api import load
    return load(str(fixture_model_path(tmp_path_factory.mktemp("model"))))


@pytest.fixture(scope="module")
def recognizer(model):
    from safu.device.voice_builder import build_recognizer
    rec = build_recognizer(model, processes=1)
    yield rec
    rec.close()


class Counting:
    """The real recogniser, counting what it is asked to hear."""

    def __init__(self, recognizer):
        self._rec, self.heard = recognizer, []

    def recognize(self, samples):
        self.heard.append(len(samples))
        return self._rec.recognize(samples)

    def __getattr__(self, name):
        return getattr(self._rec, name)


def run(model, recognizer, x, early, **settings):
    counting = Counting(recognizer)
    loop = VoiceLoop(model, counting, endpointer=Endpointer(EnergyVad(), **settings), early=early)
    return list(loop.run([ArraySource(x, "test")])), counting.heard


def total(t):
    return t["endpoint_ms"] + t["wait_ms"] + t["asr_ms"] - t["early_ms"] + t["nlu_ms"] + t["action_ms"]


def test_the_transcript_heard_during_the_hangover_is_used(tmp_path, model, recognizer):
    x = read_wav(speak("turn on the ceiling light", tmp_path / "on.wav"))
    x = np.concatenate([x, np.zeros(16000, np.float32)])
    (early,), heard_early = run(model, recognizer, x, True, hangover=0.6, tail=0.2)
    (late,), heard_late = run(model, recognizer, x, False, hangover=0.6, tail=0.2)
    assert len(heard_early) == len(heard_late) == 1 and heard_early == heard_late  # the same audio, heard once
    assert early["intent"] == late["intent"] == "HassTurnOn" and early["transcript"] == late["transcript"]
    for event in (early, late):
        assert event["timings"]["latency_ms"] == pytest.approx(total(event["timings"]), abs=0.3)
        assert event["timings"]["wait_ms"] == 0.0
    assert late["timings"]["early_ms"] == 0.0
    # Early: recognition began 0.21 s after the speech, so the end of the hangover hid up to 0.39 s of it
    t = early["timings"]
    assert t["early_ms"] == pytest.approx(min(t["asr_ms"], t["endpoint_ms"] - 210), abs=0.3)
    assert t["latency_ms"] == pytest.approx(max(t["endpoint_ms"], 210 + t["asr_ms"]) + t["nlu_ms"] + t["action_ms"],
                                            abs=0.5)


def test_speech_resuming_after_the_tentative_cut_is_heard_whole(tmp_path, model, recognizer):
    turn_on = read_wav(speak("turn on", tmp_path / "a.wav"))
    light = read_wav(speak("the ceiling light", tmp_path / "b.wav"))
    # speak() pads 0.3 s before and 0.6 s after: trimmed to a 0.45-s pause between the two halves
    x = np.concatenate([turn_on[:len(turn_on) - int(0.45 * 16000)], light[int(0.3 * 16000):],
                        np.zeros(16000, np.float32)])
    events, heard = run(model, recognizer, x, True, hangover=0.7, tail=0.2)
    assert len(events) == 1 and events[0]["intent"] == "HassTurnOn", events
    assert "ceiling light" in events[0]["transcript"]
    assert len(heard) == 2 and heard[0] < heard[1]  # the stale half, then the whole command


def test_a_failure_while_hearing_early_is_heard_again_when_the_end_is_decided(tmp_path, model, recognizer):
    class FailsFirst(Counting):
        def recognize(self, samples):
            self.heard.append(len(samples))
            if len(self.heard) == 1:
                raise MemoryError("out of memory")
            return self._rec.recognize(samples)

    x = np.concatenate([read_wav(speak("turn on the ceiling light", tmp_path / "on.wav")), np.zeros(16000, np.float32)])
    failing = FailsFirst(recognizer)
    loop = VoiceLoop(model, failing, endpointer=Endpointer(EnergyVad(), hangover=0.6, tail=0.2))
    (event,) = loop.run([ArraySource(x, "test")])
    assert event["error"] is None and event["intent"] == "HassTurnOn"
    assert len(failing.heard) == 2 and failing.heard[0] == failing.heard[1]  # the same audio, heard again
    assert event["timings"]["early_ms"] == 0.0
